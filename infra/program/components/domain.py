"""`Domain` (any stage, when the profile sets `domain`): the names the stack serves.

The hosted zone is not the stack's: it is given by id or looked up by name, and only
records are written into it. What is made:

- at every stage with an ALB, a certificate in the stack's region for `api` and `origin`
  (the ALB's HTTPS listener), DNS-validated in the zone;
- at edge and scale-5x, a certificate in us-east-1 for `api` (CloudFront accepts ACM
  certificates from us-east-1 only);
- one validation record per distinct name, and an `aws.acm.CertificateValidation` per
  certificate, whose `certificate_arn` is what the listener and the distribution take: so
  `pulumi up` waits for the certificate to be issued before using it;
- the alias records (`point_api`, `point_origin`, `point_api_at_address`), declared once the
  targets exist.

Logical names carry the role (api, origin, alb, cdn), never the stage: a stage move keeps
every record and certificate that survives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.tokens import ResourceType

# CloudFront uses ACM certificates from US East (N. Virginia) only ("Requirements for
# using SSL/TLS certificates with CloudFront", CloudFront developer guide).
CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"
# Validation records and the box's A record: short, so a re-issued record is seen soon.
RECORD_TTL_S = 60


@dataclass(frozen=True)
class AliasTarget:
    """What an alias record points at: a DNS name and its Route 53 hosted zone id (the
    ALB's `zone_id`, CloudFront's `hosted_zone_id`)."""

    dns_name: pulumi.Input[str]
    zone_id: pulumi.Input[str]
    # Route 53 cannot evaluate the health of a CloudFront alias target: False there.
    evaluate_target_health: bool
    # CloudFront serves IPv6 (is_ipv6_enabled): an AAAA alias beside the A one. The ALB
    # is ipv4-only (ip_address_type defaults to ipv4).
    ipv6: bool = False


@dataclass(frozen=True)
class DomainArgs:
    name_prefix: str
    zone: str  # the hosted zone's name
    zone_id: str | None  # None: looked up by name (a public zone)
    api: str  # the name viewers use
    origin: str  # the ALB's own name
    load_balancer: bool  # an ALB to certify (stage 3 on)
    edge: bool  # CloudFront to certify (edge, scale-5x)
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("api", "origin"):
            name = getattr(self, key)
            if name != self.zone and not name.endswith("." + self.zone):
                raise ValueError(f"DomainArgs.{key}: {name!r} is not in the zone {self.zone!r}")
        if self.edge and not self.load_balancer:
            raise ValueError("DomainArgs.edge: CloudFront's origin is the ALB; edge needs one")


class Domain(pulumi.ComponentResource):
    """Outputs: zone_id; alb_certificate_arn / cdn_certificate_arn (validated) when made."""

    zone_id: pulumi.Output[str]
    alb_certificate_arn: pulumi.Output[str] | None
    cdn_certificate_arn: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: DomainArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_DOMAIN, name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        if args.zone_id is not None:
            self.zone_id = pulumi.Output.from_input(args.zone_id)
        else:
            zone = aws.route53.get_zone_output(
                name=args.zone, private_zone=False, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            self.zone_id = zone.zone_id
        self.alb_certificate_arn = None
        self.cdn_certificate_arn = None
        self.validation_records: dict[str, aws.route53.Record] = {}
        if args.load_balancer:
            alb_certificate = self._certificate("alb", [args.api, args.origin], region=None)
            # One record set per distinct name, taken from the ALB's certificate (made at
            # every stage with an ALB, so the records survive a move to edge and back):
            # ACM gives every certificate of the account the same CNAME for a name, in any
            # region ("you can re-create the same certificate in multiple Regions", ACM user
            # guide, "DNS validation", docs.aws.amazon.com/acm/latest/userguide/
            # dns-validation.html), so CloudFront's certificate validates by the same
            # record. Two Record resources for one name would fight over it: deleting either
            # (a stage move down) would delete the record the other certificate renews by.
            for role, domain_name in (("api", args.api), ("origin", args.origin)):
                self.validation_records[role] = self._validation_record(
                    role, alb_certificate, domain_name
                )
            self.alb_certificate_arn = self._validated(
                "alb",
                alb_certificate,
                [self.validation_records["api"], self.validation_records["origin"]],
            )
        if args.edge:
            cdn_certificate = self._certificate(
                "cdn", [args.api], region=CLOUDFRONT_CERTIFICATE_REGION
            )
            self.cdn_certificate_arn = self._validated(
                "cdn",
                cdn_certificate,
                [self.validation_records["api"]],
                region=CLOUDFRONT_CERTIFICATE_REGION,
            )
        self.register_outputs({"zoneId": self.zone_id})

    # --- certificates ------------------------------------------------------------------------

    def _certificate(
        self, role: str, names: Sequence[str], *, region: str | None
    ) -> aws.acm.Certificate:
        # pulumi-aws v7 takes `region` per resource (the stack's provider otherwise), as the
        # CloudFront alarms in us-east-1 do (components/observability.py).
        return aws.acm.Certificate(
            f"{self._name}-{role}-certificate",
            domain_name=names[0],
            subject_alternative_names=list(names[1:]) or None,
            validation_method="DNS",
            key_algorithm="RSA_2048",
            region=region,
            tags={**self._args.tags, "Name": f"{self._args.name_prefix}-{role}"},
            # A replacement (new names) is Pulumi's default create-before-delete: issued and
            # attached before the old one goes (ACM refuses to delete one in use anyway).
            opts=self._child,
        )

    def _validation_record(
        self, role: str, certificate: aws.acm.Certificate, domain_name: str
    ) -> aws.route53.Record:
        option = certificate.domain_validation_options.apply(
            lambda options: _option_for(options, domain_name)
        )
        # allow_overwrite: the record may already exist with this value (an earlier
        # certificate for the name, made by hand or by another stack): take it over
        # rather than fail. As in the provider's example for DNS validation with Route 53
        # (hashicorp/terraform-provider-aws, website/docs/r/
        # acm_certificate_validation.html.markdown).
        return aws.route53.Record(
            f"{self._name}-validation-{role}",
            zone_id=self.zone_id,
            name=option["resource_record_name"],
            type=option["resource_record_type"],
            records=[option["resource_record_value"]],
            ttl=RECORD_TTL_S,
            allow_overwrite=True,
            opts=self._child,
        )

    def _validated(
        self,
        role: str,
        certificate: aws.acm.Certificate,
        records: Sequence[aws.route53.Record],
        *,
        region: str | None = None,
    ) -> pulumi.Output[str]:
        # Creating it waits (up to 75 min by default) until ACM has issued the
        # certificate; its certificate_arn is only known then, so what takes it waits too.
        validation = aws.acm.CertificateValidation(
            f"{self._name}-{role}-certificate-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn for record in records],
            region=region,
            opts=self._child,
        )
        return validation.certificate_arn

    # --- where the names point ----------------------------------------------------------------

    def point_api(self, target: AliasTarget) -> list[aws.route53.Record]:
        return self._alias("api", self._args.api, target)

    def point_origin(self, target: AliasTarget) -> list[aws.route53.Record]:
        return self._alias("origin", self._args.origin, target)

    def point_api_at_address(self, ip: pulumi.Input[str]) -> aws.route53.Record:
        """Stages 1-2: an A record to the box's Elastic IP (no alias target exists)."""
        return aws.route53.Record(
            f"{self._name}-api",
            zone_id=self.zone_id,
            name=self._args.api,
            type="A",
            records=[ip],
            ttl=RECORD_TTL_S,
            allow_overwrite=True,
            opts=self._child,
        )

    def _alias(self, role: str, name: str, target: AliasTarget) -> list[aws.route53.Record]:
        alias = aws.route53.RecordAliasArgs(
            name=target.dns_name,
            zone_id=target.zone_id,
            evaluate_target_health=target.evaluate_target_health,
        )
        kinds = [("", "A"), *([("-ipv6", "AAAA")] if target.ipv6 else [])]
        return [
            aws.route53.Record(
                f"{self._name}-{role}{suffix}",
                zone_id=self.zone_id,
                name=name,
                type=kind,
                aliases=[alias],
                # A record made by hand for the name (before the stack served it) is taken
                # over, not a failed `up`.
                allow_overwrite=True,
                opts=self._child,
            )
            for suffix, kind in kinds
        ]


def _option_for(options: Sequence[Any], domain_name: str) -> dict[str, str]:
    """The validation record ACM asks for `domain_name` (one of the certificate's names)."""
    for option in options or []:
        get = option.get if isinstance(option, dict) else lambda k, o=option: getattr(o, k)
        if get("domain_name") == domain_name:
            return {
                key: str(get(key))
                for key in ("resource_record_name", "resource_record_type", "resource_record_value")
            }
    raise ValueError(
        f"ACM gave no validation record for {domain_name!r}; "
        f"got {[getattr(o, 'domain_name', o) for o in options or []]}"
    )
