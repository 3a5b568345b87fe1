"""Answers for the data-source calls (invokes) the program makes under the mocks.

CloudFront managed-policy lookups are answered in `data_outputs.py`.
"""

from __future__ import annotations

from typing import Any

from infra.plans.mocks.registry import PARTITION, MockContext, invoke_answer
from infra.tokens import InvokeToken

AZ_LETTERS = "abcdef"
# Published AWS managed prefix list ids are per region; this is the us-east-1 one.
CLOUDFRONT_PREFIX_LISTS = {"us-east-1": "pl-3b927c52"}


@invoke_answer(InvokeToken.GET_AVAILABILITY_ZONES)
def _azs(ctx: MockContext, args: dict[str, Any]) -> dict[str, Any]:
    names = [f"{ctx.region}{letter}" for letter in AZ_LETTERS]
    return {
        "id": ctx.region,
        "names": names,
        "zoneIds": [f"use1-az{i}" for i in range(1, len(names) + 1)],
        "groupNames": [ctx.region] * len(names),
        "state": args.get("state", "available"),
    }


@invoke_answer(InvokeToken.EC2_GET_INSTANCE_TYPE_OFFERINGS)
def _instance_type_offerings(ctx: MockContext, args: dict[str, Any]) -> dict[str, Any]:
    """DescribeInstanceTypeOfferings from moto's copy of AWS's catalogue, per location type.

    Zone IDs name the same physical zone in every account, so the catalogue keyed by zone
    ID is the mock account's too (us-east-1's use1-az3 offers no Graviton type in it).
    """
    from moto.utilities.utils import load_resource

    location_type = str(args.get("locationType") or "region")
    try:
        rows = load_resource(
            f"ec2/resources/instance_type_offerings/{location_type}/{ctx.region}.json"
        )
    except FileNotFoundError as exc:
        raise KeyError(
            f"mock instance type offerings: no {location_type!r} data for {ctx.region}"
        ) from exc
    wanted: dict[str, set[str]] = {}
    for item in args.get("filters") or []:
        wanted[str(item["name"])] = {str(v) for v in item.get("values") or []}
    found = [
        row
        for row in rows
        if row["InstanceType"] in wanted.get("instance-type", {row["InstanceType"]})
        and row["Location"] in wanted.get("location", {row["Location"]})
    ]
    found.sort(key=lambda row: (row["Location"], row["InstanceType"]))
    return {
        "id": ctx.region,
        "instanceTypes": [row["InstanceType"] for row in found],
        "locations": [row["Location"] for row in found],
        "locationTypes": [location_type] * len(found),
    }


@invoke_answer(InvokeToken.GET_CALLER_IDENTITY)
def _caller(ctx: MockContext, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ctx.account,
        "accountId": ctx.account,
        "arn": f"arn:aws:iam::{ctx.account}:user/platform-ci",
        "userId": "AIDAEXAMPLEPLATFORMCI",
    }


@invoke_answer(InvokeToken.GET_REGION)
def _region(ctx: MockContext, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ctx.region,
        "name": ctx.region,
        "region": ctx.region,
        "endpoint": f"ec2.{ctx.region}.amazonaws.com",
        "description": "US East (N. Virginia)",
    }


@invoke_answer(InvokeToken.GET_PARTITION)
def _partition(ctx: MockContext, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": PARTITION,
        "partition": PARTITION,
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
    }


@invoke_answer(InvokeToken.SSM_GET_PARAMETER)
def _ssm_parameter(ctx: MockContext, args: dict[str, Any]) -> dict[str, Any]:
    name = str(args.get("name", ""))
    if not name.startswith("/aws/service/ami-"):
        raise KeyError(
            f"mock SSM parameter {name!r} is unknown; add it to infra/plans/mocks/invokes.py"
        )
    seeded = MockContext(ctx.stack, ctx.region, "ami", name)
    return {
        "id": name,
        "name": name,
        "arn": f"arn:aws:ssm:{ctx.region}::parameter{name}",
        "type": "String",
        "value": f"ami-0{seeded.digest()[:16]}",
        "insecureValue": f"ami-0{seeded.digest()[:16]}",
        "version": 1,
        "withDecryption": False,
    }


@invoke_answer(InvokeToken.EC2_GET_MANAGED_PREFIX_LIST)
def _prefix_list(ctx: MockContext, args: dict[str, Any]) -> dict[str, Any]:
    name = str(args.get("name", ""))
    if name != "com.amazonaws.global.cloudfront.origin-facing":
        raise KeyError(f"mock managed prefix list {name!r} is unknown")
    pl_id = CLOUDFRONT_PREFIX_LISTS.get(ctx.region, "pl-0" + ctx.digest()[:8])
    return {
        "id": pl_id,
        "name": name,
        "arn": f"arn:aws:ec2:{ctx.region}:aws:prefix-list/{pl_id}",
        "addressFamily": "IPv4",
        "maxEntries": 55,
        "ownerId": "AWS",
        "version": 1,
        "entries": [{"cidr": "120.52.22.96/27", "description": ""}],
        "tags": {},
    }


# AWS managed CloudFront policies: name -> id, as published in the CloudFront developer
# guide ("Use managed cache policies", "Use managed origin request policies").
MANAGED_CACHE_POLICIES = {
    "Managed-CachingOptimized": "658327ea-f89d-4fab-a63d-7e88639e58f6",
    "Managed-CachingDisabled": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
    "Managed-CachingOptimizedForUncompressedObjects": "b2884449-e4de-46a7-ac36-70bc7f1ddd6d",
    "UseOriginCacheControlHeaders": "83da9c7e-98b4-4e11-a168-04f0df8e2c65",
    "UseOriginCacheControlHeaders-QueryStrings": "4cc15a8a-d715-48a4-82b8-cc0b614638fe",
}
MANAGED_ORIGIN_REQUEST_POLICIES = {
    "Managed-AllViewerExceptHostHeader": "b689b0a8-53d0-40ab-baf2-68738e2966ac",
    "Managed-AllViewer": "216adef6-5c7f-47e4-b989-5492eafa07d3",
    "Managed-CORS-S3Origin": "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf",
}


def _managed_policy(kind: str, table: dict[str, str], args: dict[str, Any]) -> dict[str, Any]:
    """Look a managed policy up by name or id, as CloudFront does; unknown is an error."""
    name, policy_id = args.get("name"), args.get("id")
    for known_name, known_id in table.items():
        if name == known_name or policy_id == known_id:
            return {"id": known_id, "name": known_name, "etag": "E23ZP02F085DFQ"}
    raise KeyError(
        f"mock CloudFront {kind}: name={name!r} id={policy_id!r} is not a managed policy; "
        f"known: {', '.join(table)}"
    )


@invoke_answer(InvokeToken.CLOUDFRONT_GET_CACHE_POLICY)
def _cache_policy(ctx: MockContext, args: dict[str, Any]) -> dict[str, Any]:
    return _managed_policy("cache policy", MANAGED_CACHE_POLICIES, args)


@invoke_answer(InvokeToken.CLOUDFRONT_GET_ORIGIN_REQUEST_POLICY)
def _origin_request_policy(ctx: MockContext, args: dict[str, Any]) -> dict[str, Any]:
    return _managed_policy("origin request policy", MANAGED_ORIGIN_REQUEST_POLICIES, args)


@invoke_answer(InvokeToken.ROUTE53_GET_ZONE)
def _hosted_zone(ctx: MockContext, args: dict[str, Any]) -> dict[str, Any]:
    """A public hosted zone looked up by name (a profile's `domain` without zone_id): the
    mock account holds exactly one public zone of every name it is asked for."""
    name = str(args.get("name") or "").rstrip(".")
    if not name or args.get("privateZone"):
        raise KeyError(f"mock route53.getZone: only public zones by name; got {args!r}")
    zone_id = "Z" + MockContext(ctx.stack, "", "route53-zone", name).upper_token(20)
    return {
        "id": zone_id,
        "zoneId": zone_id,
        "name": name,
        "arn": f"arn:{PARTITION}:route53:::hostedzone/{zone_id}",
        "callerReference": f"movies-{name}",
        "comment": "",
        "nameServers": [f"ns-{i}.awsdns-{i:02d}.org" for i in (101, 612, 1290, 1877)],
        "primaryNameServer": "ns-101.awsdns-01.org",
        "privateZone": False,
        "resourceRecordSetCount": 2,
        "tags": {},
    }
