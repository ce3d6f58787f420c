# The user pool gptql's `cognito` identity provider talks to (src/auth/cognito.ts): email as the
# user name, groups that map to gptql roles, and a public app client (no secret) that signs in
# with USER_PASSWORD_AUTH and refreshes tokens.

resource "aws_cognito_user_pool" "this" {
  name                     = var.name
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  deletion_protection      = var.deletion_protection ? "ACTIVE" : "INACTIVE"

  password_policy {
    minimum_length                   = 10
    require_lowercase                = false
    require_uppercase                = false
    require_numbers                  = false
    require_symbols                  = false
    temporary_password_validity_days = 3
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  user_attribute_update_settings {
    attributes_require_verification_before_update = ["email"]
  }
}

# Roles in gptql: src/auth/roles.ts. Precedence decides the role a user in several groups gets.
resource "aws_cognito_user_group" "this" {
  for_each     = { admin = 1, premium = 2, users = 3 }
  name         = each.key
  user_pool_id = aws_cognito_user_pool.this.id
  precedence   = each.value
  description  = "gptql role ${each.key}"
}

resource "aws_cognito_user_pool_client" "app" {
  name            = "${var.name}-app"
  user_pool_id    = aws_cognito_user_pool.this.id
  generate_secret = false
  explicit_auth_flows = [
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
  ]
  prevent_user_existence_errors = "ENABLED"
  enable_token_revocation       = true

  access_token_validity  = 60
  id_token_validity      = 60
  refresh_token_validity = 30
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}
