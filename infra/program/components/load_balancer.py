"""`LoadBalancer` (stage 3 on): the ALB across >= 2 AZs, the web target group (and the search
one at scale-5x, reached by a listener rule), HTTP listener, HTTPS + redirect with a
certificate, and a 404 for `/metrics*` on every forwarding listener ahead of any forward rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.program.components.observability import Observability, metric_query
from infra.tokens import ResourceType

HEALTH_CHECK_PATH = "/healthz"
# TLS 1.3 and 1.2 only, forward-secret ciphers; the console's recommended policy ("Security
# policies for your Application Load Balancer", ELB user guide,
# docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# ALB rule priorities: the lower number is evaluated first.
METRICS_RULE_PRIORITY = 5
WARMUP_RULE_PRIORITY = 9
SEARCH_RULE_PRIORITY = 10
METRICS_PATH_PATTERN = "/metrics*"
# A header no client sends: the warm-up rule that carries it puts the search target group
# "in use" (health-checked) before any real request is routed there.
WARMUP_HEADER = "X-Movies-Fleet-Warmup"


@dataclass(frozen=True)
class SearchRoute:
    """`GET <path>?<query_key>=...` goes to the search target group."""

    path: str
    query_key: str


@dataclass(frozen=True)
class LoadBalancerArgs:
    name_prefix: str
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]  # public subnets, one per AZ (>= 2)
    security_group_id: pulumi.Input[str]
    app_port: int
    # With a certificate, HTTP redirects to HTTPS (at the edge stages too: CloudFront then
    # reaches the ALB over HTTPS, so a redirect never loops).
    # An ARN from the profile, or the validated one of components/domain.py (an output).
    certificate_arn: pulumi.Input[str] | None = None
    search: SearchRoute | None = None
    deletion_protection: bool = False
    # The connection idle timeout (1-4000 s). The targets' HTTP keep-alive must be longer
    # (EnvProfile.http_keepalive_s): else the ALB reuses a connection the target has
    # closed and answers 502 ("Edit load balancer attributes", connection idle timeout).
    idle_timeout_s: int = 60
    tags: dict[str, str] = field(default_factory=dict)
    alarms: Observability | None = None  # the stage's alarm sink; None: no alarms


class LoadBalancer(pulumi.ComponentResource):
    """Outputs: alb_arn, alb_arn_suffix, dns_name, zone_id, url, target groups by role."""

    def __init__(
        self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ResourceType.MOVIES_LOAD_BALANCER, name, None, opts)
        if len(args.subnet_ids) < 2:
            raise ValueError(
                f"subnet_ids: invalid count {len(args.subnet_ids)}; "
                "allowed: >= 2 (an ALB spans 2 AZs)"
            )
        child = pulumi.ResourceOptions(parent=self)
        self.alb = aws.lb.LoadBalancer(
            f"{name}-lb",
            load_balancer_type="application",
            internal=False,
            subnets=list(args.subnet_ids),
            security_groups=[args.security_group_id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.deletion_protection,
            idle_timeout=args.idle_timeout_s,
            tags={**args.tags, "Name": f"{args.name_prefix}-alb"},
            opts=child,
        )
        self.target_groups: dict[str, aws.lb.TargetGroup] = {
            "web": self._target_group(name, "web", args)
        }
        if args.search is not None:
            self.target_groups["search"] = self._target_group(name, "search", args)

        web_forward = [{"type": "forward", "target_group_arn": self.target_groups["web"].arn}]
        self.https_listener: aws.lb.Listener | None = None
        if args.certificate_arn is not None:
            self.https_listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=self.alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=args.certificate_arn,
                default_actions=web_forward,
                opts=child,
            )
        http_actions: list[dict[str, object]] = web_forward
        if args.certificate_arn is not None:
            http_actions = [
                {
                    "type": "redirect",
                    "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"},
                }
            ]
        self.http_listener = aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=http_actions,
            opts=child,
        )
        # Rules go on every listener that forwards (a redirecting one sends clients to HTTPS).
        serving = [("", self.http_listener)] if http_actions is web_forward else []
        if self.https_listener is not None:
            serving.append(("-https", self.https_listener))
        self.metrics_rules = [
            self._metrics_rule(name + suffix, listener) for suffix, listener in serving
        ]
        # A fleet's readiness wait (WebTier: wait_for_elb_capacity) counts a target only
        # in state "healthy", and an ALB health-checks a target group only while a
        # listener or rule forwards to it (else its targets stay "unused",
        # Target.NotInUse: "Target health status", ELB user guide); the provider counts
        # per target group, state != "healthy" is not counted (terraform-provider-aws
        # internal/service/autoscaling/group.go, statusGroupCapacity). So each fleet
        # waits on the resources in `attachments`, and the traffic route of a fleet added
        # to a live ALB (search) is opened by `route_search` only after the fleet.
        self._name, self._serving, self._search = name, serving, args.search
        self.attachments: dict[str, list[pulumi.Resource]] = {
            "web": [listener for _, listener in serving]
        }
        self.search_rules: list[aws.lb.ListenerRule] = []
        if args.search is not None:
            self.attachments["search"] = [
                self._warmup_rule(name + suffix, listener) for suffix, listener in serving
            ]

        self.alb_arn = self.alb.arn
        self.alb_arn_suffix = self.alb.arn_suffix
        self.dns_name = self.alb.dns_name
        self.zone_id = self.alb.zone_id
        self.https = args.certificate_arn is not None
        scheme = "https" if self.https else "http"
        self.url = self.alb.dns_name.apply(lambda dns: f"{scheme}://{dns}")
        if args.alarms is not None:
            # Each tier's latency is its target group's: WebTier declares it.
            declare_alarms(args.alarms, self.alb_arn_suffix)
        self.register_outputs(
            {
                "albArn": self.alb_arn,
                "dnsName": self.dns_name,
                "url": self.url,
                "targetGroupArns": {k: tg.arn for k, tg in self.target_groups.items()},
            }
        )

    def route_search(self, fleet: pulumi.Resource) -> list[aws.lb.ListenerRule]:
        """The search rules, each created only once `fleet` (the search ASG, which waits
        for its healthy targets) is: a rule created as soon as its target group exists
        answers 503 until the new instances pass their checks (ALB: a target group with no
        healthy target). Logical names and parent as before: the URNs do not change."""
        if self._search is None:
            raise ValueError("route_search: this load balancer has no search route (args.search)")
        search = self._search
        self.search_rules = [
            self._search_rule(self._name + suffix, listener, search, fleet)
            for suffix, listener in self._serving
        ]
        return self.search_rules

    def _warmup_rule(self, name: str, listener: aws.lb.Listener) -> aws.lb.ListenerRule:
        """Forwards only requests carrying WARMUP_HEADER to the search group: the group is
        in use (checked) from the start, while no real request reaches it."""
        return aws.lb.ListenerRule(
            f"{name}-search-warmup",
            listener_arn=listener.arn,
            priority=WARMUP_RULE_PRIORITY,
            conditions=[{"http_header": {"http_header_name": WARMUP_HEADER, "values": ["1"]}}],
            actions=[{"type": "forward", "target_group_arn": self.target_groups["search"].arn}],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _metrics_rule(self, name: str, listener: aws.lb.Listener) -> aws.lb.ListenerRule:
        """`/metrics*` answers 404 at the ALB: the scrape is for the box itself, not the internet.

        Evaluated before every forward rule (a lower number wins), so no path pattern of a
        later rule can reach the service's metrics through the load balancer.
        """
        return aws.lb.ListenerRule(
            f"{name}-metrics",
            listener_arn=listener.arn,
            priority=METRICS_RULE_PRIORITY,
            conditions=[{"path_pattern": {"values": [METRICS_PATH_PATTERN]}}],
            actions=[
                {
                    "type": "fixed-response",
                    "fixed_response": {
                        "content_type": "text/plain",
                        "message_body": "not found",
                        "status_code": "404",
                    },
                }
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _search_rule(
        self, name: str, listener: aws.lb.Listener, search: SearchRoute, fleet: pulumi.Resource
    ) -> aws.lb.ListenerRule:
        return aws.lb.ListenerRule(
            f"{name}-search",
            listener_arn=listener.arn,
            priority=SEARCH_RULE_PRIORITY,
            conditions=[
                {"path_pattern": {"values": [search.path]}},
                {"query_strings": [{"key": search.query_key, "value": "*"}]},
            ],
            actions=[{"type": "forward", "target_group_arn": self.target_groups["search"].arn}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[fleet]),
        )

    def _target_group(self, name: str, role: str, args: LoadBalancerArgs) -> aws.lb.TargetGroup:
        return aws.lb.TargetGroup(
            f"{name}-{role}",
            port=args.app_port,
            protocol="HTTP",
            target_type="instance",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check={
                "path": HEALTH_CHECK_PATH,
                "port": "traffic-port",
                "protocol": "HTTP",
                "matcher": "200",
                "interval": 15,
                "timeout": 5,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
            tags={**args.tags, "Name": f"{args.name_prefix}-{role}"},
            opts=pulumi.ResourceOptions(parent=self),
        )


def declare_alarms(sink: Observability, alb_arn_suffix: pulumi.Input[str]) -> None:
    """The share of requests ending in a 5xx, from the ALB itself or from its targets."""
    share = sink.thresholds.alb_5xx_percent
    dimensions = {"LoadBalancer": alb_arn_suffix}
    sink.alarm(
        "alb-5xx-rate",
        f"more than {share}% of requests end in a 5xx (ALB or targets)",
        metric_queries=[
            metric_query("elb5xx", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", dimensions),
            metric_query(
                "target5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", dimensions
            ),
            metric_query("requests", "AWS/ApplicationELB", "RequestCount", dimensions),
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="rate",
                label="5xx share of requests (%)",
                # No requests is no error rate, not a division by zero.
                expression=(
                    "IF(FILL(requests, 0) > 0, 100 * (FILL(elb5xx, 0) + FILL(target5xx, 0))"
                    " / FILL(requests, 0), 0)"
                ),
                return_data=True,
            ),
        ],
        evaluation_periods=3,
        comparison_operator="GreaterThanThreshold",
        threshold=share,
        treat_missing_data="notBreaching",
    )
