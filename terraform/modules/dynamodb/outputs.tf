output "table_names" {
  description = "DYNAMODB_*_TABLE"
  value = {
    users         = aws_dynamodb_table.users.name
    conversations = aws_dynamodb_table.conversations.name
    messages      = aws_dynamodb_table.messages.name
    files         = aws_dynamodb_table.files.name
    labels        = aws_dynamodb_table.labels.name
    shares        = aws_dynamodb_table.shares.name
    usage         = aws_dynamodb_table.usage.name
    usage_records = aws_dynamodb_table.usage_records.name
  }
}

output "table_arns" {
  value = [
    aws_dynamodb_table.users.arn,
    aws_dynamodb_table.conversations.arn,
    aws_dynamodb_table.messages.arn,
    aws_dynamodb_table.files.arn,
    aws_dynamodb_table.labels.arn,
    aws_dynamodb_table.shares.arn,
    aws_dynamodb_table.usage.arn,
    aws_dynamodb_table.usage_records.arn,
  ]
}
