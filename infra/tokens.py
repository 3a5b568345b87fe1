"""The engine's fixed words: every Pulumi type token the repo writes and the secret marker.

A token is the engine's name for a type, ``<package>:<module>:<Name>``; pulumi-aws writes
``aws:rds/instance:Instance`` (the module path repeats the file, ``rds/instance``). Every
module that names a type (the components, the catalogue, the mocks, the pricers, the
diagram, the policies, the value checks) takes it from here; ``tests/infra/test_one_home.py``
fails when another module writes a token as a string.

This module imports nothing of the repo (only ``enum``), so the CrossGuard pack in
``policies/`` can read it without pulling in the program, pydantic or the YAML reader
(docs/architecture.md). The members are ``str`` (``StrEnum``): they compare and hash equal
to the plain strings the engine and the plan files carry, and serialise as their value.
"""

from __future__ import annotations

from enum import StrEnum

# What the engine shows in place of a secret value (pulumi/pulumi pkg/display: MassageSecrets
# prints "[secret]"; `pulumi preview --json` carries it), and what plan files hold for one.
SECRET_MARKER = "[secret]"


class ResourceType(StrEnum):
    """The type token of a resource, as in a plan's ``type`` and a URN's last type."""

    # pulumi-aws (the tokens are the provider schema's; sdk/python/pulumi_aws/<module>/*.py
    # passes them to the engine)
    ACM_CERTIFICATE = "aws:acm/certificate:Certificate"
    ACM_CERTIFICATE_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
    ALB_LISTENER = "aws:alb/listener:Listener"
    ALB_LOAD_BALANCER = "aws:alb/loadBalancer:LoadBalancer"
    AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
    AUTOSCALING_POLICY = "aws:autoscaling/policy:Policy"
    CLOUDFRONT_CACHE_POLICY = "aws:cloudfront/cachePolicy:CachePolicy"
    CLOUDFRONT_DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
    CLOUDFRONT_ORIGIN_ACCESS_CONTROL = "aws:cloudfront/originAccessControl:OriginAccessControl"
    CLOUDFRONT_ORIGIN_REQUEST_POLICY = "aws:cloudfront/originRequestPolicy:OriginRequestPolicy"
    CLOUDFRONT_RESPONSE_HEADERS_POLICY = (
        "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy"
    )
    CLOUDWATCH_LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
    CLOUDWATCH_METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
    EC2_EIP = "aws:ec2/eip:Eip"
    EC2_EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
    EC2_INSTANCE = "aws:ec2/instance:Instance"
    EC2_INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
    EC2_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
    EC2_NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
    EC2_ROUTE = "aws:ec2/route:Route"
    EC2_ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
    EC2_ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
    EC2_SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
    EC2_SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
    EC2_SUBNET = "aws:ec2/subnet:Subnet"
    EBS_VOLUME = "aws:ebs/volume:Volume"
    EC2_VPC = "aws:ec2/vpc:Vpc"
    EC2_VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
    ECR_REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
    ELASTICACHE_CLUSTER = "aws:elasticache/cluster:Cluster"
    ELASTICACHE_PARAMETER_GROUP = "aws:elasticache/parameterGroup:ParameterGroup"
    ELASTICACHE_REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
    ELASTICACHE_SUBNET_GROUP = "aws:elasticache/subnetGroup:SubnetGroup"
    IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
    IAM_INSTANCE_PROFILE = "aws:iam/instanceProfile:InstanceProfile"
    IAM_POLICY = "aws:iam/policy:Policy"
    IAM_ROLE = "aws:iam/role:Role"
    IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
    IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
    KMS_KEY = "aws:kms/key:Key"
    KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
    LB_LISTENER = "aws:lb/listener:Listener"
    LB_LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
    LB_LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
    LB_TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
    LB_TARGET_GROUP_ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
    RDS_CLUSTER = "aws:rds/cluster:Cluster"
    RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
    RDS_INSTANCE = "aws:rds/instance:Instance"
    RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
    RDS_SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
    ROUTE53_RECORD = "aws:route53/record:Record"
    ROUTE53_ZONE = "aws:route53/zone:Zone"
    S3_BUCKET = "aws:s3/bucket:Bucket"
    S3_BUCKET_CORS_CONFIGURATION = "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration"
    S3_BUCKET_LIFECYCLE_CONFIGURATION = (
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    )
    S3_BUCKET_OBJECT = "aws:s3/bucketObject:BucketObject"
    S3_BUCKET_OBJECTV2 = "aws:s3/bucketObjectv2:BucketObjectv2"
    S3_BUCKET_OWNERSHIP_CONTROLS = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
    S3_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
    S3_BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    S3_BUCKET_SERVER_SIDE_ENCRYPTION_CONFIGURATION = (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    S3_BUCKET_SERVER_SIDE_ENCRYPTION_CONFIGURATION_V2 = (
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
    )
    S3_BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
    S3_BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
    SECRETSMANAGER_SECRET = "aws:secretsmanager/secret:Secret"
    SECRETSMANAGER_SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
    SECRETSMANAGER_SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
    SNS_TOPIC = "aws:sns/topic:Topic"
    SNS_TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
    SNS_TOPIC_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
    SQS_QUEUE = "aws:sqs/queue:Queue"
    SQS_QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
    VPC_SECURITY_GROUP_EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
    VPC_SECURITY_GROUP_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    # pulumi-random
    RANDOM_ID = "random:index/randomId:RandomId"
    RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
    # the engine's root resource of every stack
    STACK = "pulumi:pulumi:Stack"
    # this program's components (infra/program/components/)
    MOVIES_CACHE = "movies:infra:Cache"
    MOVIES_DATABASE = "movies:infra:Database"
    MOVIES_DOMAIN = "movies:infra:Domain"
    MOVIES_EDGE = "movies:infra:Edge"
    MOVIES_LOAD_BALANCER = "movies:infra:LoadBalancer"
    MOVIES_MEDIA_STORAGE = "movies:infra:MediaStorage"
    MOVIES_NETWORK = "movies:infra:Network"
    MOVIES_OBSERVABILITY = "movies:infra:Observability"
    MOVIES_PRIVATE_ENDPOINTS = "movies:infra:PrivateEndpoints"
    MOVIES_RELEASE = "movies:infra:Release"
    MOVIES_SECURITY = "movies:infra:Security"
    MOVIES_SINGLE_BOX = "movies:infra:SingleBox"
    MOVIES_WEB_TIER = "movies:infra:WebTier"


class InvokeToken(StrEnum):
    """The token of a provider function (a data source read during a preview)."""

    CLOUDFRONT_GET_CACHE_POLICY = "aws:cloudfront/getCachePolicy:getCachePolicy"
    CLOUDFRONT_GET_ORIGIN_REQUEST_POLICY = (
        "aws:cloudfront/getOriginRequestPolicy:getOriginRequestPolicy"
    )
    EC2_GET_INSTANCE_TYPE_OFFERINGS = "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings"
    EC2_GET_MANAGED_PREFIX_LIST = "aws:ec2/getManagedPrefixList:getManagedPrefixList"
    GET_AVAILABILITY_ZONES = "aws:index/getAvailabilityZones:getAvailabilityZones"
    GET_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
    GET_PARTITION = "aws:index/getPartition:getPartition"
    GET_REGION = "aws:index/getRegion:getRegion"
    ROUTE53_GET_ZONE = "aws:route53/getZone:getZone"
    SSM_GET_PARAMETER = "aws:ssm/getParameter:getParameter"
