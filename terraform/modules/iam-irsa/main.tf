# IAM roles for the two service accounts of k8s/base/serviceaccounts.yaml. Each role can be
# assumed only by its own service account, and allows only the calls that role makes (the AWS
# SDK commands in src/): no wildcard actions, no wildcard resources.

locals {
  issuer = replace(var.oidc_issuer, "https://", "")
  table_and_index_arns = flatten([
    for arn in var.dynamodb_table_arns : [arn, "${arn}/index/*"]
  ])
  # DynamoDB calls of src/store (lib-dynamodb's Get/Put/Update/Delete/Query/Batch*), and
  # DescribeTable for /ready.
  dynamodb_actions = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
  ]
  roles = {
    api = {
      service_account = "gptql-api"
      statements = [
        { sid = "Tables", actions = local.dynamodb_actions, resources = local.table_and_index_arns },
        # The API enqueues jobs and reports the queue depth.
        { sid = "Queue", actions = ["sqs:SendMessage", "sqs:GetQueueAttributes"], resources = var.queue_arns },
        # Role changes and user administration (src/auth/cognito.ts); sign-in calls need no IAM.
        { sid = "UserPool", actions = [
          "cognito-idp:AdminAddUserToGroup",
          "cognito-idp:AdminRemoveUserFromGroup",
          "cognito-idp:AdminListGroupsForUser",
          "cognito-idp:AdminGetUser",
          "cognito-idp:AdminDisableUser",
          "cognito-idp:ListUsers",
        ], resources = [var.user_pool_arn] },
        # Uploads (src/files/storage-s3.ts): lib-storage's multipart Upload, Get/Head, Delete.
        { sid = "Files", actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], resources = ["${var.files_bucket_arn}/*"] },
      ]
    }
    worker = {
      service_account = "gptql-worker"
      statements = [
        { sid = "Tables", actions = local.dynamodb_actions, resources = local.table_and_index_arns },
        { sid = "Queue", actions = [
          "sqs:ReceiveMessage",
          "sqs:DeleteMessage",
          "sqs:ChangeMessageVisibility",
          "sqs:GetQueueAttributes",
          "sqs:SendMessage",
        ], resources = var.queue_arns },
        # Model checkpoints are read, never written, by workers.
        { sid = "ModelObjects", actions = ["s3:GetObject"], resources = ["${var.models_bucket_arn}/*"] },
        { sid = "ModelList", actions = ["s3:ListBucket"], resources = [var.models_bucket_arn] },
      ]
    }
  }
}

data "aws_iam_policy_document" "assume" {
  for_each = local.roles
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${each.value.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "access" {
  for_each = local.roles
  dynamic "statement" {
    for_each = each.value.statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role" "this" {
  for_each           = local.roles
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume[each.key].json
}

resource "aws_iam_role_policy" "this" {
  for_each = local.roles
  name     = "${var.name}-${each.key}"
  role     = aws_iam_role.this[each.key].id
  policy   = data.aws_iam_policy_document.access[each.key].json
}
