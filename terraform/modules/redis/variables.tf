variable "name" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  type = list(string)
}

variable "client_security_group_id" {
  type        = string
  description = "Security group of the EKS nodes/pods allowed to connect."
}

variable "node_type" {
  type    = string
  default = "cache.t4g.small"
}

variable "replicas" {
  type        = number
  description = "Read replicas; more than 0 turns on automatic failover across zones."
  default     = 0
}
