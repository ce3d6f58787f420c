variable "name" {
  type = string
}

variable "kubernetes_version" {
  type    = string
  default = "1.32"
}

variable "private_subnet_ids" {
  type = list(string)
}

variable "public_endpoint_cidrs" {
  type        = list(string)
  description = "Networks allowed to reach the Kubernetes API endpoint from the internet; [] keeps it private."
  default     = []
}

variable "cpu_instance_types" {
  type    = list(string)
  default = ["m7i.xlarge"]
}

variable "cpu_min_size" {
  type    = number
  default = 2
}

variable "cpu_max_size" {
  type    = number
  default = 10
}

variable "gpu_instance_types" {
  type    = list(string)
  default = ["g5.xlarge"]
}

variable "gpu_capacity_type" {
  type        = string
  description = "SPOT outside production (interrupted workers hand their jobs back to the queue), ON_DEMAND in production."
  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.gpu_capacity_type)
    error_message = "gpu_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "gpu_min_size" {
  type    = number
  default = 1
}

variable "gpu_max_size" {
  type    = number
  default = 4
}
