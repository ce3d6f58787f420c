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

variable "models" {
  type        = list(string)
  description = "The model names workers serve (MODEL_PATH's, \"default\" when it is unset): one jobs queue each."
  default     = ["default"]
}
