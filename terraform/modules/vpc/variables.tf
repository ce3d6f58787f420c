variable "name" {
  type        = string
  description = "Name prefix of every resource."
}

variable "region" {
  type = string
}

variable "cidr_block" {
  type        = string
  description = "VPC range; k8s/base/networkpolicies.yaml allows the same range (ALB targets, Redis)."
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster that may place load balancers in these subnets."
}

variable "single_nat_gateway" {
  type    = bool
  default = true
}
