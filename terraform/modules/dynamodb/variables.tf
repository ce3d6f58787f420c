variable "name" {
  type        = string
  description = "Table name prefix: tables are NAME-users, NAME-conversations, NAME-messages, NAME-files, NAME-labels, NAME-shares, NAME-usage, NAME-usage-records."
}

variable "deletion_protection" {
  type    = bool
  default = true
}
