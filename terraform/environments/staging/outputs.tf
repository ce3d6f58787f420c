output "gptql" {
  description = "Values for k8s/overlays (see k8s/README.md)."
  value       = module.gptql
}
