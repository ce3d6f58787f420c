output "files_bucket" {
  description = "S3_BUCKET_NAME"
  value       = aws_s3_bucket.this["files"].id
}

output "files_bucket_arn" {
  value = aws_s3_bucket.this["files"].arn
}

output "models_bucket" {
  value = aws_s3_bucket.this["models"].id
}

output "models_bucket_arn" {
  value = aws_s3_bucket.this["models"].arn
}
