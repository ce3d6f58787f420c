# gptql's tables. Keys and indexes must be exactly those of src/store/tables.ts
# (tableDefinitions); src/deploy/terraform.test.ts compares them. The app does not create
# tables on AWS (DYNAMODB_CREATE_TABLES defaults to off there): Terraform owns them.

resource "aws_dynamodb_table" "users" {
  name         = "${var.name}-users"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "userId"
  range_key    = "sk"

  attribute {
    name = "userId"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  attribute {
    name = "listKey"
    type = "S"
  }
  attribute {
    name = "createdAt"
    type = "S"
  }

  global_secondary_index {
    name            = "byCreatedAt"
    hash_key        = "listKey"
    range_key       = "createdAt"
    projection_type = "ALL"
  }

  # Refresh sessions expire by themselves (TTL_ATTRIBUTE in src/store/tables.ts).
  ttl {
    attribute_name = "expiresAt"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  deletion_protection_enabled = var.deletion_protection
}

resource "aws_dynamodb_table" "conversations" {
  name         = "${var.name}-conversations"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "userId"
  range_key    = "conversationId"

  attribute {
    name = "userId"
    type = "S"
  }
  attribute {
    name = "conversationId"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  deletion_protection_enabled = var.deletion_protection
}

resource "aws_dynamodb_table" "messages" {
  name         = "${var.name}-messages"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "conversationId"
  range_key    = "messageId"

  attribute {
    name = "conversationId"
    type = "S"
  }
  attribute {
    name = "messageId"
    type = "S"
  }

  global_secondary_index {
    name            = "byMessageId"
    hash_key        = "messageId"
    projection_type = "KEYS_ONLY"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  deletion_protection_enabled = var.deletion_protection
}

resource "aws_dynamodb_table" "files" {
  name         = "${var.name}-files"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "userId"
  range_key    = "fileId"

  attribute {
    name = "userId"
    type = "S"
  }
  attribute {
    name = "fileId"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  deletion_protection_enabled = var.deletion_protection
}

# Folders and the entries that list conversations by view (src/store/labels.ts).
resource "aws_dynamodb_table" "labels" {
  name         = "${var.name}-labels"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "userId"
  range_key    = "key"

  attribute {
    name = "userId"
    type = "S"
  }
  attribute {
    name = "key"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  deletion_protection_enabled = var.deletion_protection
}

# Conversations shared by link: snapshots read by share id (src/store/shares.ts).
resource "aws_dynamodb_table" "shares" {
  name         = "${var.name}-shares"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "shareId"
  range_key    = "part"

  attribute {
    name = "shareId"
    type = "S"
  }
  attribute {
    name = "part"
    type = "S"
  }
  attribute {
    name = "owner"
    type = "S"
  }
  attribute {
    name = "listKey"
    type = "S"
  }

  global_secondary_index {
    name            = "byOwner"
    hash_key        = "owner"
    range_key       = "listKey"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  deletion_protection_enabled = var.deletion_protection
}

# Token counters per user and model per UTC day, and quota overrides (src/store/usage.ts).
resource "aws_dynamodb_table" "usage" {
  name         = "${var.name}-usage"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "subject"
  range_key    = "period"

  attribute {
    name = "subject"
    type = "S"
  }
  attribute {
    name = "period"
    type = "S"
  }
  attribute {
    name = "day"
    type = "S"
  }

  # usageReport pages one day's users or models in key order from here, never by a Scan.
  global_secondary_index {
    name               = "byDay"
    hash_key           = "day"
    range_key          = "subject"
    projection_type    = "INCLUDE"
    non_key_attributes = ["promptTokens", "completionTokens", "requests"]
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  deletion_protection_enabled = var.deletion_protection
}

# One record per generation: written first, so that a generation is counted once.
resource "aws_dynamodb_table" "usage_records" {
  name         = "${var.name}-usage-records"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "userId"
  range_key    = "generationId"

  attribute {
    name = "userId"
    type = "S"
  }
  attribute {
    name = "generationId"
    type = "S"
  }

  # Records expire after USAGE_RECORD_TTL_DAYS; the daily counters stay.
  ttl {
    attribute_name = "expiresAt"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  deletion_protection_enabled = var.deletion_protection
}
