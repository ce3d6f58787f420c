variable "name" {
  type = string
}

variable "redis_url" {
  type      = string
  sensitive = true
}

variable "redis_auth_token" {
  type      = string
  sensitive = true
}

variable "recovery_window_in_days" {
  type    = number
  default = 7
}
