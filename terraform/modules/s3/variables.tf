variable "name" {
  type = string
}

variable "force_destroy" {
  type        = bool
  description = "Allow destroying non-empty buckets (dev only)."
  default     = false
}
