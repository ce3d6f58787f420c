variable "name" {
  type = string
}

variable "origin_verify_secret" {
  type        = string
  description = "Value of the x-origin-verify header that CloudFront adds."
  sensitive   = true
}

variable "requests_per_5_minutes_per_ip" {
  type    = number
  default = 2000
}
