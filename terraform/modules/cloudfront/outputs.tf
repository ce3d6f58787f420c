output "domain_name" {
  description = "Point the public host name (PUBLIC_URL) at this."
  value       = aws_cloudfront_distribution.this.domain_name
}
