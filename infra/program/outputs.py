"""The stack outputs (exports): one typed list of keys that the composer writes and
`infra.verify` reads (docs/architecture.md, "Stack outputs"). A key is absent when the
stage lacks the part it names."""

from __future__ import annotations

from enum import StrEnum


class StackOutput(StrEnum):
    """An export's key; the value is the snake_case name `pulumi stack output` shows."""

    URL = "url"
    STAGE = "stage"
    ENVIRONMENT = "environment"
    VPC_ID = "vpc_id"
    INSTANCE_ID = "instance_id"  # single box
    PUBLIC_IP = "public_ip"  # single box
    ALB_ARN = "alb_arn"
    ALB_DNS_NAME = "alb_dns_name"
    TARGET_GROUP_ARNS = "target_group_arns"  # list
    ASG_NAMES = "asg_names"  # list
    DB_PRIMARY_IDENTIFIER = "db_primary_identifier"
    DB_REPLICA_IDENTIFIERS = "db_replica_identifiers"  # list
    DB_ENDPOINT = "db_endpoint"
    DB_READER_ENDPOINT = "db_reader_endpoint"
    DB_SECRET_ARN = "db_secret_arn"
    REDIS_REPLICATION_GROUP_ID = "redis_replication_group_id"
    REDIS_PRIMARY_ENDPOINT = "redis_primary_endpoint"
    REDIS_READER_ENDPOINT = "redis_reader_endpoint"
    REDIS_AUTH_SECRET_ARN = "redis_auth_secret_arn"
    MEDIA_BUCKET = "media_bucket"
    CDN_DOMAIN = "cdn_domain"
    CDN_DISTRIBUTION_ID = "cdn_distribution_id"
    SNS_TOPIC_ARN = "sns_topic_arn"
    ALARM_NAMES = "alarm_names"  # list
