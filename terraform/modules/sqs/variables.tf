variable "name" {
  type = string
}

variable "visibility_timeout_seconds" {
  type        = number
  description = "QUEUE_VISIBILITY_TIMEOUT_SECONDS of the workers."
  default     = 60
}

variable "max_deliveries" {
  type        = number
  description = "QUEUE_MAX_DELIVERIES: deliveries before a job goes to the dead-letter queue."
  default     = 5
}
