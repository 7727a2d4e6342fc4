#!/usr/bin/env python3
"""dualstack-emulator: moto's server, corrected to AWS's documented IPv6 behaviour.

The `dualstack` integration tests run the real tool against moto's server
(PyPI ``moto[server]==5.2.5``) on loopback. Pristine moto departs from AWS in
ways that would hide exactly the bugs the tool must not have (a waiter that
never sees ``associated``, flags set before the block is associated, blocks
disassociated while in use, ...). This launcher starts moto's own WSGI
application (``DomainDispatcherApplication(create_backend_app)``, as
``moto/server.py`` does) on a threaded werkzeug server, monkeypatches moto so
that it behaves like AWS, and wraps it in a small control middleware the tests
use to observe and disturb the traffic.

Usage::

    python tests/emulator/launcher.py [--host 127.0.0.1] [--port 0]
                                      [--pristine] [--associating-reads N]
                                      [--initial-health-reads N]
                                      [--ecs-start-seconds S] [--ecs-health-seconds S]
                                      [--ecs-fail-seconds S] [--ecs-stop-seconds S]
                                      [--ecs-eni-linger-seconds S] [--ecs-retry-seconds S]
                                      [--nacl-entry-quota N] [--change-pending-reads N]
                                      [--verbose]

``--port 0`` picks a free port. Once the socket accepts connections, exactly one
line is printed to stdout (and flushed)::

    dualstack-emulator listening on http://HOST:PORT

Nothing else is ever written to stdout (anything moto prints goes to stderr),
so a parent may stop reading after that line. The server runs until SIGTERM or
SIGINT and then exits 0. ``--pristine`` applies no correction at all (plain
moto plus the control endpoints, and the S3 write delay of
``/_emulator/s3-config``, idle unless set), so a test can show that each
departure exists in pristine moto. ``--verbose`` logs every request to stderr.

Corrections (applied before serving, unless ``--pristine``)
-----------------------------------------------------------
a. IPv6 association rendering.
   - Subnet: moto renders ``Ipv6CidrBlockAssociationSet[].Ipv6CidrBlockState.State``
     as the Python repr ``"{'State': 'associated'}"``, so a waiter never sees
     ``associated``. Restored: the plain state string, plus ``Ipv6AddressAttribute``
     (``public``) and ``IpSource`` (``amazon``) as AWS renders them, in
     DescribeSubnets, CreateSubnet and Associate/DisassociateSubnetCidrBlock.
   - VPC: the Amazon-provided block is a /56 with ``Ipv6Pool: Amazon``, but moto
     drops ``NetworkBorderGroup`` for AssociateVpcCidrBlock. Restored: the
     region (``us-east-1``), as AWS reports for an Amazon-provided block. The
     block is rendered in canonical form (moto's random blocks may keep leading
     zeros, ``2400:6500:026d:...``, which AWS never renders), so it compares
     equal as text with a /64 the tool computes and formats.
   - DescribeSubnets filters ``ipv6-cidr-block-association.ipv6-cidr-block``,
     ``.association-id``, ``.state`` and ``assign-ipv6-address-on-creation``
     work (moto: FilterNotImplementedError, an HTML 500).
   - AssociateSubnetCidrBlock validates the block as AWS documents it ("You can
     only associate a single IPv6 CIDR block with your subnet. An IPv6 CIDR
     block must have a prefix length of /64."): a /64 inside one of the VPC's
     IPv6 blocks (else ``InvalidSubnet.Range``), not overlapping a block held by
     any subnet of the VPC (else ``InvalidSubnet.Conflict``), on a subnet
     without a block (else ``InvalidParameterValue``). moto accepts anything.
   - Disassociating an association that is already disassociating answers
     NotFound (``InvalidSubnetCidrBlockAssociationID.NotFound``, moto's
     ``InvalidVpcCidrBlockAssociationIdError.NotFound``) instead of moto's
     silent re-detach (subnet) or misleading ``InvalidRoute.NotFound`` (VPC).
b. Asynchronous association, as on AWS. New VPC and subnet IPv6 associations
   (AssociateVpcCidrBlock, AssociateSubnetCidrBlock, CreateVpc with
   AmazonProvidedIpv6CidrBlock, CreateSubnet with Ipv6CidrBlock) are
   ``associating`` in the call's response and in the first N Describe reads
   (DescribeVpcs / DescribeSubnets) that include them; the read after that
   shows ``associated`` (N = ``--associating-reads``, default 1). Until a read
   has shown ``associated`` the block is not associated for the other rules
   (d, h), so a tool that does not wait is caught. Disassociation answers
   ``disassociating``, stays ``disassociating`` for N reads, then the
   association disappears from describes. With N = 0 describes are immediate
   (the mutating call's response still says associating/disassociating, as
   AWS's does). moto: subnet blocks are ``associated`` at once (even in the
   Associate response), a subnet Disassociate answers ``disassociated``, VPC
   blocks are ``associated`` in the first DescribeVpcs.
c. ModifySubnetAttribute stores and renders ``EnableDns64`` (``Subnet.EnableDns64``,
   always rendered as on AWS) and ``EnableResourceNameDnsAAAARecordOnLaunch``
   (``Subnet.PrivateDnsNameOptionsOnLaunch.EnableResourceNameDnsAAAARecord``);
   moto accepts and ignores both. ``AssignIpv6AddressOnCreation`` renders as
   before. AWS modifies one attribute per call: a call with more than one is
   rejected with ``InvalidParameterCombination`` (moto applies them all), a call
   with none with ``MissingParameter``.
d. ModifySubnetAttribute setting AssignIpv6AddressOnCreation, EnableDns64 or
   EnableResourceNameDnsAAAARecordOnLaunch to true on a subnet without an
   *associated* IPv6 block (``associating`` is not enough) is rejected with
   ``InvalidParameterValue``; setting them false is always accepted. moto
   accepts it.
e. DisassociateSubnetCidrBlock while the subnet has AssignIpv6AddressOnCreation
   = true, or while an ENI of the subnet has an IPv6 address inside the block,
   is rejected with ``InvalidCidrBlock.InUse``. moto disassociates.
f. DisassociateVpcCidrBlock of an IPv6 block while a subnet of the VPC still
   holds an associating/associated block inside it is rejected with
   ``InvalidCidrBlock.InUse``. moto disassociates.
g. Routes, egress-only internet gateways, security group rules:
   - CreateRoute with a DestinationIpv6CidrBlock that already has a route
     (e.g. a second ``::/0``) is rejected with ``RouteAlreadyExists``; moto
     silently overwrites the existing route (it checks IPv4 destinations only).
   - DescribeEgressOnlyInternetGateways honours Filters (``attachment.vpc-id``,
     ``attachment.state``, ``egress-only-internet-gateway-id``, ``tag:*``,
     ``tag-key``, ``tag-value``); moto ignores them and returns every gateway.
   - Checked and already AWS-like in moto (no correction): ReplaceRoute and
     DeleteRoute with DestinationIpv6CidrBlock; DescribeRouteTables rendering
     ``GatewayId`` / ``EgressOnlyInternetGatewayId`` on IPv6 routes;
     CreateEgressOnlyInternetGateway; Authorize{Ingress,Egress} with Ipv6Ranges
     returning ``SecurityGroupRules[].SecurityGroupRuleId``; duplicates answered
     ``InvalidPermission.Duplicate``; DescribeSecurityGroupRules (filter
     ``group-id``) listing the same rule ids; Revoke{Ingress,Egress} with
     SecurityGroupRuleIds.
h. ELBv2.
   - SetIpAddressType (and CreateLoadBalancer) with ``dualstack`` or
     ``dualstack-without-public-ipv4`` when a subnet of the load balancer has
     no *associated* IPv6 block is rejected with ``ValidationError``; moto
     accepts it.
   - ``dualstack-without-public-ipv4`` is accepted for an internet-facing
     application load balancer and rejected with ``ValidationError`` otherwise;
     moto rejects it always (its enum is [ipv4, dualstack]).
   - A load balancer created without Scheme reports ``internet-facing``; moto
     reports no scheme at all.
   DescribeLoadBalancers renders the new IpAddressType (moto already does).
i. DryRun. AWS checks the caller's permission for an EC2 call sent with
   ``DryRun=true`` and never applies it: it answers HTTP 412
   ``DryRunOperation`` ("Request would have succeeded, but DryRun flag is
   set.") or, without the permission, HTTP 403 ``UnauthorizedOperation``
   ("You are not authorized to perform this operation."). Some EC2 actions
   have no DryRun parameter at all (AssociateVpcCidrBlock,
   AssociateSubnetCidrBlock, Disassociate{Vpc,Subnet}CidrBlock,
   ModifySubnetAttribute, ModifyVpcAttribute, AssignIpv6Addresses,
   UnassignIpv6Addresses, ...: the EC2 API reference and the SDKs' models
   list none, so no SDK sends it); for those AWS rejects the unrecognised
   parameter, HTTP 400 ``UnknownParameter`` "The parameter DryRun is not
   recognized", as it does for any parameter an action lacks. The control
   middleware answers every EC2 request with ``DryRun=true`` itself, in
   AWS's EC2 XML error shape, and never forwards it to moto: 400
   UnknownParameter for an action without DryRun (the set comes from
   botocore's EC2 model), else 403 when the action is denied (see
   ``/_emulator/deny`` below), else 412. moto honours DryRun in some handlers
   only (reads, security group rules) and applies the rest (CreateRoute,
   ReplaceRoute, DeleteRoute, CreateEgressOnlyInternetGateway, CreateVpc,
   and, when the parameter is forced onto them, AssociateVpcCidrBlock,
   ModifySubnetAttribute, ...) as if it were not set -- a rehearsal would
   silently change the emulated account.
j. IPv6 addresses of network interfaces and instances.
   - A network interface created in a subnet with AssignIpv6AddressOnCreation
     = true (the primary ENI of RunInstances, or CreateNetworkInterface) gets
     one IPv6 address from the subnet's *associated* /64, as on AWS; moto gives
     none. Addresses are random in the /64, never one of the first four or the
     last (AWS reserves them), never one already used in the subnet. They
     render in DescribeInstances ``NetworkInterfaces[].Ipv6Addresses`` and
     DescribeNetworkInterfaces ``Ipv6Addresses``.
   - Ipv6AddressCount / Ipv6Addresses (RunInstances, CreateNetworkInterface,
     AssignIpv6Addresses) on a subnet without an associated IPv6 block is
     rejected with ``InvalidParameterValue`` (moto: an HTML 500 for
     AssignIpv6Addresses, a block in any state for the others). The code is
     our best understanding of AWS, not confirmed against a live account.
   - An explicit address must lie in the subnet's associated block, else
     ``InvalidParameterValue`` (moto accepts any address).
   - AssignIpv6Addresses answers ``AssignedIpv6Addresses`` = the addresses
     this call assigned (moto: all addresses of the interface).
   - Checked and already AWS-like in moto (no correction): UnassignIpv6Addresses;
     DescribeInstanceTypes ``NetworkInfo.Ipv6Supported`` (false for m1, m2, m3,
     c1 and t1 types, true for current generations).
k. ELBv2 target groups and forward actions.
   - RegisterTargets into an ``ip`` target group checks the address family:
     an IPv4 address into an ``ipv6`` group, an IPv6 address into an ``ipv4``
     group (or anything that is not an IP address) is rejected with
     ``ValidationError`` and nothing is registered; moto registers anything.
   - Targets are keyed by (Id, Port) as on AWS: the same IP or instance can be
     registered on several ports (moto keeps only the last port). A target
     registered without Port uses the group's port; DeregisterTargets without
     Port deregisters that one (``InvalidTarget`` if it is not registered).
   - CreateTargetGroup with an existing name answers the existing group when
     the settings are the same (AWS: "This operation is idempotent") and
     ``DuplicateTargetGroupName`` when they differ; moto always answers
     DuplicateTargetGroupName. IpAddressType must be ipv4 or ipv6
     (``ValidationError``); moto takes any string.
   - A forward action (CreateListener, ModifyListener, CreateRule, ModifyRule;
     TargetGroupArn or any ForwardConfig group, weight 0 included) to an
     ``ipv6`` target group on a load balancer whose IpAddressType is ``ipv4``
     is rejected with ``ValidationError``, and so is SetIpAddressType ``ipv4``
     on a load balancer that forwards to an ipv6 group ("IPv6 target groups
     can only be associated with dualstack load balancers"). The code is our
     best understanding of AWS's ELBv2 API reference (it lists
     ValidationError for invalid requests); the exact messages are ours.
     moto accepts both.
   - ModifyListener checks that the target groups of its DefaultActions exist
     (``TargetGroupNotFound``, as CreateListener does); moto stores anything.
     DefaultActions replaces the whole list (as on AWS; moto already does).
   - Forward actions render as AWS renders them: a single target group (given
     as TargetGroupArn or as a one-group ForwardConfig) renders both
     ``TargetGroupArn`` and ``ForwardConfig`` (``TargetGroups`` with
     ``Weight`` 1 unless given, ``TargetGroupStickinessConfig``
     ``{Enabled: false}`` unless given); several groups render
     ``ForwardConfig`` only, weights as given (0 included). moto renders a
     TargetGroupArn-only action without ForwardConfig.
   - DescribeTargetGroups ``LoadBalancerArns`` (and the LoadBalancerArn
     filter) follow the current listeners and rules: each load balancer once,
     updated by ModifyListener/ModifyRule/Delete*; moto appends one per
     CreateListener/CreateRule (duplicates) and never updates it.
   - Rule ARNs end in 16 hex digits like AWS's (moto: a Python object id).
   - Checked and already AWS-like in moto (no correction): CreateTargetGroup
     IpAddressType ipv6 rendered by DescribeTargetGroups; names longer than 32
     characters (``ValidationError``); DeleteTargetGroup of a group used by a
     listener or rule (``ResourceInUse``); CreateTargetGroup Tags, AddTags,
     RemoveTags and DescribeTags on target groups; several weighted groups in
     ForwardConfig (weights, 0 included, and TargetGroupArn absent).
l. Target health. DescribeTargetHealth reports a newly registered target as
   ``initial`` (Reason ``Elb.RegistrationInProgress``) in the first N reads
   that include it (N = ``--initial-health-reads``, default 1, settable at run
   time through ``/_emulator/config``), then ``healthy``. A deregistered target
   (or a terminated instance) reports ``draining`` (``Target.DeregistrationInProgress``)
   in the next read that includes it and then disappears; asked for by Id it
   then reports ``unused`` / ``Target.NotRegistered``. A registered instance
   that is stopped reports ``unused`` / ``Target.InvalidState``.
   ``HealthCheckPort`` renders the port checked (the target's port for
   ``traffic-port``), as AWS does. Tests may force any state with
   ``POST /_emulator/target-health`` (below). moto: every registered target is
   always healthy, a deregistered one vanishes at once, HealthCheckPort is
   ``traffic-port``.
m. ECS (Fargate ``awsvpc`` tasks and ``ECS``-controller services), modelled in
   ``ecs_model.py`` -- its module docstring is the full model, with every
   simplification. moto launches no service task, registers no target,
   creates no deployment on UpdateService, never moves ``rolloutState``,
   gives task interfaces no IPv6 and an address outside the subnet, lacks
   PutAccountSettingDefault and principals/``effectiveSettings`` in account
   settings, and crashes RunTask (HTML 500) in a VPC with DNS hostnames off
   (no ``private_dns_name`` on the interface) or for a container without its
   own memory. Corrected, on the wall clock (timings below; a healthy
   deployment of 2 tasks completes in about 1 s):
   - CreateService, every new deployment (UpdateService with
     forceNewDeployment or a new taskDefinition, networkConfiguration,
     platformVersion or loadBalancers) and RunTask launch tasks, each with a
     real EC2 interface (Description ``arn:aws:ecs:REGION:ACCOUNT:attachment/
     UUID``, RequesterManaged) in one of the subnets (round robin), an IPv4
     address of the subnet and, when the subnet assigns IPv6 on creation with
     an associated block, ``dualStackIPv6`` is effectively enabled and the
     platform is 1.4.0 or later, an IPv6 address of its /64 (correction j's
     allocation, so e sees it). Lifecycle PROVISIONING -> PENDING -> RUNNING
     -> DEACTIVATING -> STOPPING -> DEPROVISIONING -> STOPPED; a stopped
     task's interface lingers ``eni_linger_seconds``, then is deleted.
   - RUNNING service tasks are registered (IPv4, containerPort) in the
     service's target groups, ``initial`` then ``healthy`` (l's overrides
     apply); replaced tasks are deregistered, then stopped
     (``ServiceSchedulerInitiated``, ``Scaling activity initiated by
     (deployment ID)``).
   - Deployments ``ecs-svc/`` + 19 digits: PRIMARY IN_PROGRESS (the previous
     one ACTIVE) until its tasks are RUNNING and healthy, then COMPLETED and
     alone. Circuit breaker: FAILED at min(200, max(3, ceil(desired/2)))
     failed tasks, then (rollback) a new PRIMARY deployment of the last
     COMPLETED one's task definition.
   - The incident: a task with IPv6 in a subnet with EnableDns64 (c) and no
     ``64:ff9b::/96`` route to a NAT gateway fails its ELB health checks
     (``Task failed ELB health checks in (target-group ARN)``) or container
     health check (``Task failed container health checks``) and is replaced;
     tasks with neither run on. ``/_emulator/ecs-tasks`` forces other
     failures.
   - PutAccountSettingDefault, per-principal PutAccountSetting,
     DeleteAccountSetting and ListAccountSettings ``effectiveSettings``
     (own, else the default, else AWS's default ``disabled``).
   - ListTasks (serviceName, desiredStatus default RUNNING, ...),
     DescribeTasks (MISSING failures), StopTask, DescribeServices
     (deployments, counts, ``deploymentConfiguration`` and
     ``deploymentController`` as given, events), DeleteService; UpdateService
     refuses new deployments on CODE_DEPLOY / EXTERNAL services.
   The model advances lazily: before every EC2, ELBv2 or ECS request, with
   requests handed to moto one at a time (a lock) in corrected mode.
n. Network ACLs, Route 53 and ELBv2 hosted zones, modelled in
   ``dns_nacl_model.py`` (its module docstring has the details and every
   simplification). All errors below are HTTP 400 unless said otherwise.
   - Default entries. A VPC that gets an IPv6 block (CreateVpc with
     AmazonProvidedIpv6CidrBlock, AssociateVpcCidrBlock) adds to its
     *default* ACL, in each direction whose entries no Create/Replace/
     DeleteNetworkAclEntry ever modified, ``101 allow all ::/0`` and the IPv6
     ``*`` deny (reported as rule 32768, ``::/0``), as the VPC User Guide's
     "Default network ACL" documents; a default ACL of a VPC created with a
     block starts with both families' defaults. Every ACL has its ``*`` denies
     (32767 ``0.0.0.0/0``, and 32768 ``::/0`` once the VPC has IPv6); custom
     ACLs never get an allow. moto: no IPv6 entry ever, custom ACLs without
     any entry.
   - Rendering (DescribeNetworkAcls, CreateNetworkAcl): ``IcmpTypeCode``
     ``{Code, Type}`` of ICMP (1) and ICMPv6 (58) entries (moto reads the
     wrong parameter names and drops it), ``Protocol`` as the number string
     (``tcp`` is stored ``6``; moto keeps the name), CIDR blocks canonical,
     entries egress first then by rule number; filters ``entry.ipv6-cidr``,
     ``entry.icmp.*``, ``entry.port-range.*``. Already AWS-like in moto:
     ``Ipv6CidrBlock`` without ``CidrBlock`` for IPv6 entries, ``PortRange``,
     ``RuleAction``, ``Egress``, ``RuleNumber``, ``Associations[].SubnetId``,
     ``IsDefault``.
   - DeleteNetworkAclEntry and ReplaceNetworkAclEntry of a rule number that
     the direction lacks answer ``InvalidNetworkAclEntry.NotFound`` (moto: an
     HTML 500, StopIteration). CreateNetworkAclEntry of a number the direction
     has (IPv4 and IPv6 share one number space per direction) answers
     ``NetworkAclEntryAlreadyExists`` -- already so in moto.
   - Entries: RuleNumber outside 1-32766 -> ``InvalidParameterValue`` (so the
     ``*`` entries cannot be touched); CidrBlock and Ipv6CidrBlock together
     -> ``InvalidParameterCombination``, neither -> ``MissingParameter``;
     protocol 1 or 58 without IcmpTypeCode -> ``MissingParameter`` "The
     request must contain the parameter icmpTypeCode.type" (AWS's answer as
     its users report it); an invalid CIDR block or protocol ->
     ``InvalidParameterValue``. moto accepts all of them. The messages are
     ours but for icmpTypeCode's.
   - Quota (Amazon VPC quotas, "Rules per network ACL": 20, raisable to 40,
     per direction and "enforced separately for IPv4 rules and IPv6 rules
     ... This quota includes the default deny rules"): a direction may hold
     per family its entries numbered 1-32766 plus its ``*`` deny up to the
     quota -- 19 user entries by default; the next CreateNetworkAclEntry
     answers ``NetworkAclEntryLimitExceeded``. Settable through
     ``/_emulator/nacl-config`` (``--nacl-entry-quota``, default 20). moto has
     no quota.
   - ELBv2 ``CanonicalHostedZoneId`` is the zone AWS publishes for the load
     balancer's region and type (moto: ``Z2P70J7EXAMPLE`` for all). Source:
     AWS General Reference, "Elastic Load Balancing endpoints and quotas"
     (``dns_nacl_model.ELB_HOSTED_ZONES`` has 20 regions), for example::

         region           application      network
         us-east-1        Z35SXDOTRQ7X7K   Z26RNL4JYFTOTI
         us-west-2        Z1H1FL5HABSF5    Z18D5FSROUN65G
         eu-west-1        Z32O12XQLNTSW2   Z2IFOLAFXWLO4F
         ap-northeast-1   Z14GRHDCWA56QT   Z31USIVHYNEOWT

     Another region or type (gateway) gets a deterministic ``Z`` + 13
     characters of a hash of both (not AWS's). DNSName is moto's
     ``NAME-1.REGION.elb.amazonaws.com``, AWS's shape for an application
     load balancer (``NAME-1234567890.REGION.elb.amazonaws.com``); kept.
   - Route 53 names (zones, records, alias DNS names) are stored and
     returned lower case with a trailing dot (AWS: "Route 53 stores
     alphabetic characters as lowercase letters"; ``*`` as ``\052``); moto
     keeps the case, so a zone created as ``Example.com`` refuses
     ``www.example.com``. A new zone's NS values end in a dot and its SOA
     value is a string (moto renders a Python dict repr).
   - ChangeResourceRecordSets, as one transaction (an error applies none of
     the batch), records keyed by (name, type, SetIdentifier):
     CREATE of an existing record -> ``InvalidChangeBatch`` "Tried to create
     resource record set [name='N', type='T'] but it already exists" (moto
     only catches a CREATE identical to an earlier one: it stores duplicates);
     DELETE of a missing record -> ``InvalidChangeBatch`` "... but it was not
     found"; DELETE whose TTL, values, alias target or routing fields
     (Weight, Region, Failover, GeoLocation, MultiValueAnswer, HealthCheckId)
     differ -> ``InvalidChangeBatch`` "Tried to delete resource record set
     [name='N', type='T'] but the values provided do not match the current
     values" (moto answers InvalidInput, or deletes an alias anyway); TTL (or
     ResourceRecords) with an AliasTarget -> ``InvalidInput`` "Invalid
     request: Expected exactly one of [AliasTarget, all of [TTL, and
     ResourceRecords], or TrafficPolicyInstanceId], but found more than one
     in Change with [...]" (moto accepts it); an alias whose DNSName (with or
     without ``dualstack.``, any case, trailing dot optional) is an ELBv2 load
     balancer's of the account and whose HostedZoneId is not that load
     balancer's CanonicalHostedZoneId -> ``InvalidChangeBatch`` "Tried to
     create an alias that targets D, type T in zone Z, but the alias target
     name does not lie within the target zone" (moto accepts it). Other alias
     targets are accepted unchecked.
   - Changes. ChangeResourceRecordSets (and CreateHostedZone,
     DeleteHostedZone, Associate/DisassociateVPCWithHostedZone) answer a new
     change ``/change/C...`` with Status ``PENDING``; GetChange reports it
     ``PENDING`` in its first N reads, then ``INSYNC`` (N =
     ``pending_change_reads``, ``--change-pending-reads``, default 1,
     settable through ``/_emulator/dns-config``). GetChange of an ID never
     issued -> ``NoSuchChange`` (HTTP 404). moto: INSYNC at once, one fixed
     ID per call type, any ID found.
   - Checked and already AWS-like in moto (no correction): ListResourceRecordSets
     renders an alias record's ``AliasTarget`` (HostedZoneId, DNSName,
     EvaluateTargetHealth) without TTL and ``SetIdentifier``/``Weight`` when
     given, orders records by name with the labels reversed, then type; a
     record outside the zone is ``InvalidChangeBatch``.
o. S3 conditional writes (the tool's journal and lease lock), in
   ``s3_model.py`` (its module docstring has the details). S3 is served by
   the same moto server: path-style requests (``PUT /bucket/key``) signed
   for ``s3`` at the emulator's endpoint reach moto's S3 (checked: moto
   routes them by the credential scope; no routing correction needed).
   - Atomic conditions. AWS evaluates ``PutObject`` ``If-None-Match: *`` /
     ``If-Match: <etag>`` and ``DeleteObject`` ``If-Match`` in one step with
     the write: of many racing ``If-None-Match: *`` writers to one key exactly
     one gets 200, the others 412 ``PreconditionFailed`` (or 409
     ``ConditionalRequestConflict``, to be retried). moto checks, then writes,
     holding nothing between the two: racing writers all get 200, the last
     one's body stays. Corrected: every object-level S3 request runs under one
     lock per (account, bucket, key), across moto's check and its write (the
     moto lock of correction m serializes S3 requests too; the atomicity does
     not rest on it, a test runs correction o without it). The emulator never
     answers 409 (the fault proxy's ``conditional_conflict``
     and ``/_emulator/faults`` inject it). ``/_emulator/s3-config`` (below)
     widens moto's race window so that a test shows the race every time.
   - ``DeleteObject`` ``If-Match: *`` deletes an existing object (204) and
     answers 404 ``NoSuchKey`` for a missing one (S3 User Guide, conditional
     deletes: ``*`` checks that the object exists); moto compares ``*`` with
     the ETag and answers 412 for an existing object.
   - ``PutObject`` ``If-None-Match`` with anything but ``*`` answers HTTP 501
     ``NotImplemented`` "A header you provided implies functionality that is
     not implemented" (AWS: "Expects the '*' (asterisk) character"); moto
     ignores the header and overwrites.
   - Checked and already AWS-like in moto (no correction): ``If-None-Match:
     *`` on an existing key -> 412 PreconditionFailed; ``If-Match`` on
     PutObject or DeleteObject of a missing (or deleted) key -> 404
     NoSuchKey; a wrong ETag -> 412 PreconditionFailed; the right ETag writes
     (200) or deletes (204); ETags with or without quotes; the ETag of a plain
     PUT is the quoted MD5 of the body; GetObject, HeadObject, ListObjectsV2
     and CreateBucket (us-east-1: idempotent for its owner) as AWS, reads and
     lists strongly consistent. Not corrected: a PutObject sent with
     ``Content-Type: application/x-www-form-urlencoded`` is stored empty
     (moto's server parses the body as a form).

Control API (JSON; paths under ``/_emulator/``; handled by a WSGI middleware
before moto sees the request; available in pristine mode too)
-----------------------------------------------------------------------------
Each AWS request is classified by service (credential scope of the
Authorization header or of a presigned URL's ``X-Amz-Credential``, else Host:
``ec2``, ``elasticloadbalancing``, an S3 host) and by its ``Action``
form/query parameter (ECS: ``X-Amz-Target``; Route 53 and S3, REST: the
method and path). S3 requests (service ``s3``) are named by method, path
(path-style ``/bucket/key``, or the bucket in a virtual-hosted Host), query
subresource and ``x-amz-copy-source`` (``awswire.s3_call``): ``PUT /b/k``
PutObject (CopyObject with a copy source), ``GET /b/k`` GetObject, ``HEAD
/b/k`` HeadObject, ``DELETE /b/k`` DeleteObject, ``GET /b?list-type=2``
ListObjectsV2, ``GET /b`` ListObjects, ``PUT /b`` CreateBucket, ``HEAD /b``
HeadBucket, ``DELETE /b`` DeleteBucket, ``GET /`` ListBuckets, ``POST
/b?delete`` DeleteObjects, the multipart calls and the subresources
(``?versioning``, ``?tagging``, ...). A request is *mutating* unless the
action starts with Describe, Get, List, Head or Select, or the middleware
answers it itself as a dry run (correction i) or a denial
(``/_emulator/deny``) -- those never change state. An answer the middleware
makes to a HEAD request (denial, fault, hold) has no body.

Order of the checks on each AWS request. An EC2 dry run (correction i) is
answered by a due fault with ``"dry_run": true``, else 400 UnknownParameter
for an action without DryRun, else 403 if the action is denied, else 412.
Any other call (and, with ``--pristine``, a dry run too) is answered 403 if
its action is denied, else the hold and the faults apply, then moto. Denied
calls and dry runs the middleware answers do not count towards a hold (they
are not mutating). Faults count the calls sent without DryRun only, faults
with ``"dry_run": true`` the dry runs only; a denied call counts for none.

``GET  /_emulator/calls``
    ``{"calls": [{"service": "ec2", "action": "CreateRoute", "mutating": true,
    "status": 200}, ...]}`` -- every AWS request in arrival order with the HTTP
    status returned (``null`` while still in flight, e.g. held). An EC2 call
    sent with ``DryRun=true`` also has ``"dry_run": true``, a call answered as
    denied ``"denied": true`` (both keys are absent otherwise), e.g.
    ``{"service": "ec2", "action": "CreateRoute", "mutating": false,
    "status": 412, "dry_run": true}``.
``POST /_emulator/calls/clear``
    Empties the log.
``POST /_emulator/faults``
    Body ``{"action": "ModifySubnetAttribute", "nth": 1, "code": "InternalError",
    "message": "injected", "status": 500, "service": "ec2"}``. The nth
    subsequent call of that action (counting from this POST; ``service``
    optional) is answered with that AWS error (EC2 XML for ec2, ELBv2 XML for
    elasticloadbalancing, S3's ``<Error>`` XML for s3, whose actions are the
    API operations: ``{"action": "PutObject", "service": "s3", "code":
    "ConditionalRequestConflict"}``) and not applied. Defaults: nth 1, code
    InternalError, message "injected fault", status 500 for
    InternalError/InternalFailure, 503 for ServiceUnavailable/Unavailable/
    RequestLimitExceeded/SlowDown, 409 for ConditionalRequestConflict, 412
    for PreconditionFailed, 404 for NoSuchKey/NoSuchBucket, else 400. (An
    AWS SDK retries 5xx and throttling codes by itself; each retry is a new
    call of the action.)
    Several faults may be queued; each counts independently, and when two
    fall due on the same call the earlier one answers it and the later one
    answers the next matching call. A fault counts the calls that would be
    applied; with ``"dry_run": true`` it counts (and answers) the EC2 dry
    runs of the action instead. Answer: ``{"queued": <number pending>}``.
``GET  /_emulator/faults``  -> ``{"faults": [...pending...]}``
``POST /_emulator/faults/clear``
``POST /_emulator/hold``
    Body ``{"mutation": K, "when": "after"|"before"}``. The K-th subsequent
    mutating call (1-based, counting from this POST, faulted calls included)
    is held: with ``after`` moto applies it (or the fault answers it) and the
    response is withheld; with ``before`` it is held before being applied and
    is never applied. Purpose: a test SIGKILLs the tool while its K-th
    mutating call is held.
``GET  /_emulator/hold``
    ``{"armed": bool, "held": bool, "action": str|null, "mutation": K,
    "when": ...}``; ``held`` is true while a request is being held.
``POST /_emulator/release``
    Releases the held request (it is answered 500 InternalError; its client
    is normally dead by then) and disarms.
``GET/POST /_emulator/config``
    ``{"associating_reads": N, "initial_health_reads": M}`` reads/changes N
    (correction b) and M (correction l) at run time; either key may be given
    alone (also reports ``"pristine"``).
``POST /_emulator/target-health``
    Body ``{"target_group": "<name or ARN>", "target": "<instance id or IP>",
    "port": 8080, "state": "unhealthy", "reason": "Target.Timeout",
    "description": "Request timed out"}``; ``port``, ``reason`` and
    ``description`` are optional. From then on (until reset, clear, or
    another override for the same target_group/target/port) DescribeTargetHealth
    reports that state for that target (on that port only if ``port`` is
    given) instead of the natural one (correction l); registration still
    decides which targets are listed. ``"target": "*"`` applies to every
    *registered* target of the group, including ones registered later (not
    to draining or unregistered ones). A specific target beats ``*``, a
    given port beats no port, the later override beats the earlier one.
    ``state`` is one of healthy, unhealthy, unused, draining, initial,
    unavailable. Without ``reason`` the state's usual AWS reason and
    description are used (initial: Elb.RegistrationInProgress, unhealthy:
    Target.FailedHealthChecks, unused: Target.NotInUse, draining:
    Target.DeregistrationInProgress, unavailable: Target.HealthCheckDisabled,
    healthy: none); with ``reason`` only the given description is used.
    The target group is matched by name or ARN at read time, so it need not
    exist yet. Answer: ``{"overrides": <number set>, "target_groups": [ARNs
    of existing groups it designates]}``.
``GET  /_emulator/target-health``  -> ``{"overrides": [...]}`` (in the order set)
``POST /_emulator/target-health/clear``
    Removes every override.
    The three target-health endpoints answer 409 with ``--pristine`` (there
    is no health model to override); ``initial_health_reads`` is accepted by
    ``/_emulator/config`` there but has no effect.
``POST /_emulator/deny``
    Body ``{"actions": ["ec2:CreateRoute", "elasticloadbalancing:SetIpAddressType"]}``:
    adds IAM actions (``service:Action``; matched case-insensitively, ``*``
    and ``?`` wildcards as in IAM, e.g. ``ec2:Create*``) the caller is
    denied, as if its IAM policy lacked them. A denied action is answered as
    AWS answers a caller without the permission, dry run or not, and is not
    applied: EC2 -> HTTP 403 ``UnauthorizedOperation`` "You are not
    authorized to perform this operation." (EC2 XML); ELBv2 -> HTTP 403
    ``AccessDenied`` "User: arn:aws:iam::123456789012:user/test is not
    authorized to perform: elasticloadbalancing:SetIpAddressType" (ELBv2
    XML); S3 -> HTTP 403 ``AccessDenied`` "User:
    arn:aws:iam::123456789012:user/test is not authorized to perform:
    s3:PutObject on resource: "arn:aws:s3:::BUCKET/KEY" because no
    identity-based policy allows the s3:PutObject action" in S3's
    ``<Error>`` XML (no body for HEAD). S3 is matched by IAM action, not API
    operation: ``s3:PutObject`` denies PutObject, CopyObject and the
    multipart uploads, ``s3:GetObject`` GetObject and HeadObject,
    ``s3:ListBucket`` ListObjectsV2, ListObjects and HeadBucket,
    ``s3:DeleteObject`` DeleteObject and DeleteObjects, ``s3:CreateBucket``
    CreateBucket (``s3:GetObjectVersion`` / ``s3:DeleteObjectVersion`` with a
    versionId); a DeleteObject with ``If-Match`` needs ``s3:GetObject`` too
    (S3 User Guide, conditional deletes). Logged with its status, not
    mutating, ``"denied": true``. Answer: ``{"actions": [...every denied
    action...]}``.
``GET  /_emulator/deny``  -> ``{"actions": [...]}`` (in the order added)
``POST /_emulator/deny/clear``
    Allows every action again.
``POST /_emulator/reset``
    Resets every moto backend (moto's own reset) and the emulator's state:
    call log, faults, hold (a held request is released), target health
    overrides, denied actions, associating reads and initial health reads
    back to the command-line values (read counters live on moto's resources
    and go with them), the ECS model (correction m): its tasks,
    services' deployments, account settings, forced failures and timings
    (back to the command-line values), and correction n's Route 53 changes,
    network ACL quota and pending change reads (back to the command-line
    values; the ACLs' modified directions live on moto's ACLs and go with
    them), and ``/_emulator/s3-config``'s delay (back to 0; S3's buckets and
    objects are moto's and go with its reset).
``GET/POST /_emulator/ecs-tasks``
    Body ``{"service": "redash-server", "fail": "always"}``: the fate of the
    tasks launched from then on by the services of that name (any cluster):
    ``always`` -- the essential container exits (exit code 1)
    ``fail_seconds`` after RUNNING, stopCode ``EssentialContainerExited``,
    stoppedReason ``Essential container in task exited``; ``with_ipv6`` --
    the same for tasks with an IPv6 address; ``never`` -- no failure, not
    even the incident's; ``null`` -- back to the model (the incident rule).
    Answer (and GET): ``{"fail": {"redash-server": "always", ...}}``.
``GET/POST /_emulator/ecs-config``
    ``{"start_seconds": 0.5, "health_seconds": 0.5, "fail_seconds": 1.0,
    "stop_seconds": 0.3, "eni_linger_seconds": 1.0, "retry_seconds": 5.0}``
    (the defaults; ``--ecs-*-seconds`` set them per run) reads/changes the
    ECS model's timings (seconds of wall clock, any key alone): launch ->
    RUNNING, RUNNING -> health verdict, RUNNING -> a failing task stopped,
    stop -> STOPPED, STOPPED -> interface deleted, and the pause between
    replacements of a FAILED deployment's tasks. Changes apply to what
    happens next (a task already launched keeps its times). Kept apart from
    ``/_emulator/config``, whose answer is fixed.
    The two ECS endpoints answer 409 with ``--pristine`` (no ECS model).
``GET/POST /_emulator/nacl-config``
    ``{"entry_quota": 20}`` reads/changes correction n's network ACL quota:
    entries per ACL, direction and IP family, the ``*`` deny included
    (``--nacl-entry-quota``; an integer >= 1). It applies to the next
    CreateNetworkAclEntry; entries beyond it stay.
``GET/POST /_emulator/dns-config``
    ``{"pending_change_reads": 1}`` reads/changes how many GetChange reads
    show a Route 53 change PENDING (``--change-pending-reads``; >= 0). A
    change keeps the count it was issued with.
    Both answer 409 with ``--pristine`` and 400 for an unknown key or a bad
    value; kept apart from ``/_emulator/config``, whose answer is fixed.
``GET/POST /_emulator/s3-config``
    ``{"conditional_write_delay_seconds": 0}`` reads/changes a delay (seconds,
    0 to 30) slept by a conditional S3 write -- PutObject with
    ``If-None-Match`` or ``If-Match``, DeleteObject with ``If-Match`` --
    after moto has checked its condition and before it writes (a request
    whose condition fails never sleeps). A test instrument, not AWS's
    behaviour: it widens moto's check-then-write window so that racing
    writers show the race on ``--pristine`` every time, and that correction o
    closes it. Available with ``--pristine`` too (the one patch made there;
    it does nothing at 0); 400 for an unknown key or a bad value.
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import io
import ipaddress
import json
import logging
import re
import sys
import threading
from typing import Any, Callable
from urllib.parse import parse_qs

from awswire import (
    S3Call,
    aws_error,
    is_mutating,
    is_s3_host,
    reason_phrase,
    rest_action,
    s3_call,
    serve_until_signal,
    signing_service,
)

READY_LINE = "dualstack-emulator listening on http://{host}:{port}"

# Association states in which a block is (still) held by its resource.
LIVE_STATES = ("associating", "associated")
RENDERED_STATES = ("associating", "associated", "disassociating")


# ---------------------------------------------------------------------------
# Emulator state shared by the corrections and the control middleware
# ---------------------------------------------------------------------------


class Hold:
    """One armed hold: the K-th mutating call after arming is parked."""

    def __init__(self, mutation: int, when: str) -> None:
        self.mutation = mutation
        self.when = when
        self.seen = 0  # mutating calls since arming
        self.armed = True
        self.held = False
        self.action: str | None = None
        self.released = threading.Event()

    def as_json(self) -> dict[str, Any]:
        return {
            "armed": self.armed,
            "held": self.held,
            "action": self.action,
            "mutation": self.mutation,
            "when": self.when,
        }


class EmulatorState:
    def __init__(self, associating_reads: int, pristine: bool, initial_health_reads: int = 1) -> None:
        # Guards the call log, faults, hold, association and target health read
        # counters and health overrides (moto serves requests on many threads).
        # Re-entrant for nested helpers.
        self.lock = threading.RLock()
        self.pristine = pristine
        self.default_associating_reads = associating_reads
        self.associating_reads = associating_reads
        self.default_initial_health_reads = initial_health_reads
        self.initial_health_reads = initial_health_reads
        self.calls: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.hold: Hold | None = None
        # (target group name or ARN, target id or "*", port or None) -> override
        self.health_overrides: dict[tuple[str, str, int | None], dict[str, Any]] = {}
        self.override_seq = 0
        # IAM actions ("service:Action", IAM wildcards) the caller is denied.
        self.denied: list[str] = []
        # Corrected mode hands AWS requests to moto one at a time under this
        # lock (taken before `lock`, never after): the ECS model (correction m)
        # advances its clock before each request and must not race another.
        self.moto_lock = threading.RLock()
        self.ecs_timings: dict[str, float] = {}  # command-line ECS timings (correction m)
        self.ecs: Any = None  # the ECS model (ecs_model.EcsModel), corrected mode only
        # Command-line network ACL quota and Route 53 pending reads (correction n).
        self.nacl_entry_quota = 20
        self.change_pending_reads = 1
        self.dns_nacl: Any = None  # dns_nacl_model.DnsNaclModel, corrected mode only
        # S3 (correction o's per-key locks, both modes' write delay): s3_model.S3Model.
        import s3_model

        self.s3 = s3_model.S3Model()

    def release_hold(self) -> None:
        with self.lock:
            hold, self.hold = self.hold, None
        if hold is not None:
            hold.armed = False
            hold.released.set()

    def reset(self) -> None:
        self.release_hold()
        with self.lock:
            self.calls.clear()
            self.faults.clear()
            self.associating_reads = self.default_associating_reads
            self.initial_health_reads = self.default_initial_health_reads
            self.health_overrides.clear()
            self.denied.clear()


STATE = EmulatorState(associating_reads=1, pristine=False)


# ---------------------------------------------------------------------------
# Corrections (monkeypatches of moto 5.2.5)
# ---------------------------------------------------------------------------


def apply_corrections() -> None:
    """Patch moto in place so that it answers like AWS (see module docstring)."""
    from moto.core.responses import ActionResult, EmptyResult
    from moto.ec2.exceptions import (
        EC2ClientError,
        InvalidParameterCombination,
        InvalidSubnetCidrBlockAssociationID,
        InvalidVpcCidrBlockAssociationIdError,
        MissingParameter,
        RouteAlreadyExistsError,
    )
    from moto.ec2.models.internet_gateways import EgressOnlyInternetGateway
    from moto.ec2.models.subnets import Subnet, SubnetBackend
    from moto.ec2.models.vpcs import VPC
    from moto.ec2.responses.egress_only_internet_gateways import (
        EgressOnlyInternetGateway as EgressOnlyInternetGatewayResponse,
    )
    from moto.ec2.responses.route_tables import RouteTables
    from moto.ec2.responses.subnets import Subnets
    from moto.ec2.responses.vpcs import VPCs
    from moto.ec2.utils import generic_filter
    from moto.elbv2.exceptions import ELBClientError, LoadBalancerNotFoundError
    from moto.elbv2.models import ELBv2Backend

    def reads() -> int:
        return max(0, int(STATE.associating_reads))

    def net(cidr: str) -> ipaddress.IPv6Network | ipaddress.IPv4Network:
        return ipaddress.ip_network(cidr, strict=False)

    # ---- a/b: subnet IPv6 associations ------------------------------------
    # moto keeps subnet associations as dicts
    #   {"associationId", "ipv6CidrBlock", "ipv6CidrBlockState": {"State": s}}
    # (other moto code reads those keys, so they are kept) and we add
    # "_reads_left": how many more describes show the transitional state.

    def subnet_state(assoc: dict[str, Any]) -> str:
        return assoc["ipv6CidrBlockState"]["State"]

    def render_subnet_assoc(assoc: dict[str, Any], state: str | None = None) -> dict[str, Any]:
        return {
            "AssociationId": assoc["associationId"],
            "Ipv6CidrBlock": assoc["ipv6CidrBlock"],
            "Ipv6CidrBlockState": {"State": state or subnet_state(assoc)},
            "Ipv6AddressAttribute": "public",
            "IpSource": "amazon",
        }

    def subnet_has_associated_block(subnet: Any) -> bool:
        return any(
            subnet_state(a) == "associated"
            for a in subnet.ipv6_cidr_block_associations.values()
        )

    def attach_ipv6_cidr_block_associations(self: Any, ipv6_cidr_block: str) -> dict[str, Any]:
        from moto.ec2.utils import random_subnet_ipv6_cidr_block_association_id

        n = reads()
        association = {
            "associationId": random_subnet_ipv6_cidr_block_association_id(),
            "ipv6CidrBlock": ipv6_cidr_block,
            # AWS: associating first; with N = 0 describes see associated at once.
            "ipv6CidrBlockState": {"State": "associating" if n else "associated"},
            "_reads_left": n,
        }
        self.ipv6_cidr_block_associations[association["associationId"]] = association
        return association

    Subnet.attach_ipv6_cidr_block_associations = attach_ipv6_cidr_block_associations

    def subnet_ipv6_set(self: Any) -> list[dict[str, Any]]:
        # moto nests the state dict inside another "state" key and the
        # serializer renders its repr; render the plain string instead.
        return [
            render_subnet_assoc(a)
            for a in list(self.ipv6_cidr_block_associations.values())
            if subnet_state(a) in RENDERED_STATES
        ]

    Subnet.ipv6_cidr_block_association_set = property(subnet_ipv6_set)

    # AWS always renders these (false by default); moto has no such attribute.
    Subnet.enable_dns64 = False
    Subnet.map_customer_owned_ip_on_launch = False

    original_subnet_filter = Subnet.get_filter_value

    def subnet_get_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
        rendered = subnet_ipv6_set(self)
        if filter_name == "ipv6-cidr-block-association.ipv6-cidr-block":
            return [a["Ipv6CidrBlock"] for a in rendered]
        if filter_name == "ipv6-cidr-block-association.association-id":
            return [a["AssociationId"] for a in rendered]
        if filter_name == "ipv6-cidr-block-association.state":
            return [a["Ipv6CidrBlockState"]["State"] for a in rendered]
        if filter_name == "assign-ipv6-address-on-creation":
            return self.assign_ipv6_address_on_creation
        return original_subnet_filter(self, filter_name, method_name)

    Subnet.get_filter_value = subnet_get_filter_value

    def tick_subnet(subnet: Any) -> None:
        """One Describe read of `subnet`: advance its transitional associations."""
        with STATE.lock:
            for assoc_id, assoc in list(subnet.ipv6_cidr_block_associations.items()):
                state = subnet_state(assoc)
                if state not in ("associating", "disassociating"):
                    continue
                if assoc.get("_reads_left", 0) > 0:
                    assoc["_reads_left"] -= 1  # this read still shows the transition
                elif state == "associating":
                    assoc["ipv6CidrBlockState"] = {"State": "associated"}
                else:
                    del subnet.ipv6_cidr_block_associations[assoc_id]

    def describe_subnets(self: Any) -> Any:
        self.error_on_dryrun()
        subnet_ids = self._get_param("SubnetIds")
        filters = self._filters_from_querystring()
        subnets = self.ec2_backend.describe_subnets(subnet_ids, filters)
        for subnet in subnets:
            tick_subnet(subnet)
        return ActionResult({"Subnets": subnets})

    Subnets.describe_subnets = describe_subnets

    def associate_subnet_cidr_block_backend(self: Any, subnet_id: str, ipv6_cidr_block: str) -> dict[str, Any]:
        subnet = self.get_subnet(subnet_id)
        try:
            block = ipaddress.IPv6Network(str(ipv6_cidr_block), strict=True)
        except ValueError:
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Value ({ipv6_cidr_block}) for parameter ipv6CidrBlock is invalid. "
                "This is not a valid IPv6 CIDR block.",
            )
        vpc = self.get_vpc(subnet.vpc_id)
        vpc_blocks = [
            net(a["cidr_block"])
            for a in vpc.get_cidr_block_association_set(ipv6=True)
            if a["cidr_block_state"]["state"] in LIVE_STATES
        ]
        if block.prefixlen != 64 or not any(block.subnet_of(v) for v in vpc_blocks):
            raise EC2ClientError(
                "InvalidSubnet.Range", f"The CIDR '{ipv6_cidr_block}' is invalid."
            )
        if any(subnet_state(a) in LIVE_STATES for a in subnet.ipv6_cidr_block_associations.values()):
            # AWS: "You can only associate a single IPv6 CIDR block with your subnet."
            raise EC2ClientError(
                "InvalidParameterValue",
                f"The subnet {subnet.id} already has an IPv6 CIDR block associated; "
                "only a single IPv6 CIDR block can be associated with a subnet.",
            )
        for other in self.describe_subnets(filters={"vpc-id": [subnet.vpc_id]}):
            for a in other.ipv6_cidr_block_associations.values():
                if subnet_state(a) in RENDERED_STATES and net(a["ipv6CidrBlock"]).overlaps(block):
                    raise EC2ClientError(
                        "InvalidSubnet.Conflict",
                        f"The CIDR '{ipv6_cidr_block}' conflicts with another subnet",
                    )
        return subnet.attach_ipv6_cidr_block_associations(str(block))

    SubnetBackend.associate_subnet_cidr_block = associate_subnet_cidr_block_backend

    def associate_subnet_cidr_block_response(self: Any) -> Any:
        ipv6_cidr_block = self._get_param("Ipv6CidrBlock")
        subnet_id = self._get_param("SubnetId")
        association = self.ec2_backend.associate_subnet_cidr_block(subnet_id, ipv6_cidr_block)
        # AWS's response always says associating, whatever describes say next.
        return ActionResult(
            {
                "Ipv6CidrBlockAssociation": render_subnet_assoc(association, "associating"),
                "SubnetId": subnet_id,
            }
        )

    Subnets.associate_subnet_cidr_block = associate_subnet_cidr_block_response

    # ---- e: DisassociateSubnetCidrBlock refuses blocks in use --------------

    def disassociate_subnet_cidr_block_backend(self: Any, association_id: str) -> tuple[str, dict[str, Any]]:
        subnet = self.get_subnet_from_ipv6_association(association_id)
        if not subnet:
            raise InvalidSubnetCidrBlockAssociationID(association_id)
        assoc = subnet.ipv6_cidr_block_associations[association_id]
        if subnet_state(assoc) in LIVE_STATES:
            block = net(assoc["ipv6CidrBlock"])
            if subnet.assign_ipv6_address_on_creation:
                raise EC2ClientError(
                    "InvalidCidrBlock.InUse",
                    f"The IPv6 CIDR block {assoc['ipv6CidrBlock']} of subnet {subnet.id} "
                    "cannot be disassociated while assignIpv6AddressOnCreation is true.",
                )
            for eni in self.get_all_network_interfaces():
                if eni.subnet is None or eni.subnet.id != subnet.id:
                    continue
                for address in eni.ipv6_addresses or []:
                    if ipaddress.ip_address(str(address)) in block:
                        raise EC2ClientError(
                            "InvalidCidrBlock.InUse",
                            f"The IPv6 CIDR block {assoc['ipv6CidrBlock']} is in use by "
                            f"network interface {eni.id} ({address}).",
                        )
            n = reads()
            with STATE.lock:
                assoc["ipv6CidrBlockState"] = {"State": "disassociating"}
                assoc["_reads_left"] = n
                response = copy.deepcopy(assoc)
                if n == 0:
                    del subnet.ipv6_cidr_block_associations[association_id]
        else:
            # Already disassociating: as good as gone (moto would "detach" it again).
            raise InvalidSubnetCidrBlockAssociationID(association_id)
        return subnet.id, response

    SubnetBackend.disassociate_subnet_cidr_block = disassociate_subnet_cidr_block_backend

    def disassociate_subnet_cidr_block_response(self: Any) -> Any:
        association_id = self._get_param("AssociationId")
        subnet_id, association = self.ec2_backend.disassociate_subnet_cidr_block(association_id)
        return ActionResult(
            {
                "Ipv6CidrBlockAssociation": render_subnet_assoc(association, "disassociating"),
                "SubnetId": subnet_id,
            }
        )

    Subnets.disassociate_subnet_cidr_block = disassociate_subnet_cidr_block_response

    # ---- c/d: ModifySubnetAttribute ----------------------------------------

    # Boolean attributes, sent as <Name>.Value.
    bool_attributes = (
        "MapPublicIpOnLaunch",
        "AssignIpv6AddressOnCreation",
        "MapCustomerOwnedIpOnLaunch",
        "EnableDns64",
        "EnableResourceNameDnsARecordOnLaunch",
        "EnableResourceNameDnsAAAARecordOnLaunch",
        "DisableLniAtDeviceIndex",
    )
    # Flags AWS refuses to turn on without an associated IPv6 block.
    ipv6_flags = (
        "AssignIpv6AddressOnCreation",
        "EnableDns64",
        "EnableResourceNameDnsAAAARecordOnLaunch",
    )

    def lower_camel(name: str) -> str:
        return name[0].lower() + name[1:]

    def modify_subnet_attribute(self: Any) -> Any:
        subnet_id = self._get_param("SubnetId")
        given: list[tuple[str, Any]] = []
        for name in bool_attributes:
            value = self._get_bool_param(f"{name}.Value")
            if value is not None:
                given.append((name, value))
        for name in ("PrivateDnsHostnameTypeOnLaunch", "EnableLniAtDeviceIndex"):
            value = self._get_param(name)
            if value is not None:
                given.append((name, value))
        pool = self._get_param("CustomerOwnedIpv4Pool")
        if pool is not None and not any(n == "MapCustomerOwnedIpOnLaunch" for n, _ in given):
            given.append(("CustomerOwnedIpv4Pool", pool))

        # AWS changes exactly one attribute per call.
        if len(given) > 1:
            raise InvalidParameterCombination(
                "Fields for multiple attribute types specified: "
                + ", ".join(lower_camel(n) for n, _ in given)
            )
        if not given:
            raise MissingParameter("The request must contain the parameter attribute")
        name, value = given[0]
        subnet = self.ec2_backend.get_subnet(subnet_id)

        if name in ipv6_flags and value is True and not subnet_has_associated_block(subnet):
            param = lower_camel(name)
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Invalid value 'true' for {param}. Cannot set {param} to true unless "
                f"the subnet ({subnet.id}) has an IPv6 CIDR block associated with it.",
            )

        options = subnet.private_dns_name_options_on_launch
        if name == "MapPublicIpOnLaunch":
            subnet.map_public_ip_on_launch = value
        elif name == "AssignIpv6AddressOnCreation":
            subnet.assign_ipv6_address_on_creation = value
        elif name == "MapCustomerOwnedIpOnLaunch":
            subnet.map_customer_owned_ip_on_launch = value
            if pool is not None:
                subnet.customer_owned_ipv4_pool = pool
        elif name == "CustomerOwnedIpv4Pool":
            subnet.customer_owned_ipv4_pool = value
        elif name == "EnableDns64":
            subnet.enable_dns64 = value
        elif name == "EnableResourceNameDnsARecordOnLaunch":
            options["EnableResourceNameDnsARecord"] = value
        elif name == "EnableResourceNameDnsAAAARecordOnLaunch":
            options["EnableResourceNameDnsAAAARecord"] = value
        elif name == "PrivateDnsHostnameTypeOnLaunch":
            options["HostnameType"] = value
        elif name == "EnableLniAtDeviceIndex":
            subnet.enable_lni_at_device_index = int(value)
        elif name == "DisableLniAtDeviceIndex" and value:
            subnet.enable_lni_at_device_index = None
        return EmptyResult()

    Subnets.modify_subnet_attribute = modify_subnet_attribute

    # ---- a/b/f: VPC IPv6 associations --------------------------------------
    # moto keeps VPC associations as dicts {"association_id", "cidr_block",
    # "cidr_block_state": {"state"}, "ipv6_pool", ...}; same "_reads_left".

    original_vpc_associate = VPC.associate_vpc_cidr_block

    def vpc_associate(
        self: Any,
        cidr_block: str,
        amazon_provided_ipv6_cidr_block: bool = False,
        ipv6_cidr_block_network_border_group: str | None = None,
    ) -> dict[str, Any]:
        association = original_vpc_associate(
            self, cidr_block, amazon_provided_ipv6_cidr_block, ipv6_cidr_block_network_border_group
        )
        if amazon_provided_ipv6_cidr_block:
            # moto's random block keeps leading zeros ("2400:6500:026d:..."); AWS
            # renders the canonical compressed form, which is what a tool gets
            # when it formats a computed /64, so string comparisons must hold.
            association["cidr_block"] = str(net(association["cidr_block"]))
            # AWS: an Amazon-provided block belongs to the region's border group.
            association["ipv6_cidr_block_network_border_group"] = (
                ipv6_cidr_block_network_border_group or self.ec2_backend.region_name
            )
            association["ipv6_pool"] = "Amazon"
            n = reads()
            association["cidr_block_state"] = {
                "state": "associating" if n else "associated",
                "StatusMessage": None,
            }
            association["_reads_left"] = n
        return association

    VPC.associate_vpc_cidr_block = vpc_associate

    def vpc_ipv6_set(self: Any) -> list[dict[str, Any]]:
        return [
            {
                "AssociationId": a["association_id"],
                "Ipv6CidrBlock": a["cidr_block"],
                "Ipv6CidrBlockState": {"State": a["cidr_block_state"]["state"]},
                "NetworkBorderGroup": a.get("ipv6_cidr_block_network_border_group")
                or self.ec2_backend.region_name,
                "Ipv6Pool": a.get("ipv6_pool") or "Amazon",
                "Ipv6AddressAttribute": "public",
                "IpSource": "amazon",
            }
            for a in self.get_cidr_block_association_set(ipv6=True)
            if a["cidr_block_state"]["state"] in RENDERED_STATES
        ]

    VPC.ipv6_cidr_block_association_set = property(vpc_ipv6_set)

    original_vpc_disassociate = VPC.disassociate_vpc_cidr_block

    def vpc_disassociate(self: Any, association_id: str) -> dict[str, Any]:
        entry = self._cidr_block_association_set.get(association_id)
        if not entry or "::/" not in entry.get("cidr_block", ""):
            return original_vpc_disassociate(self, association_id)
        if entry["cidr_block_state"]["state"] == "disassociating":
            # As good as gone; moto would fail deleting the local route again
            # with a misleading InvalidRoute.NotFound.
            raise InvalidVpcCidrBlockAssociationIdError(association_id)
        vpc_block = net(entry["cidr_block"])
        # f: refuse while any subnet of the VPC holds a block inside it.
        for subnets in list(self.ec2_backend.subnets.values()):
            for subnet in list(subnets.values()):
                if subnet.vpc_id != self.id:
                    continue
                for a in subnet.ipv6_cidr_block_associations.values():
                    if subnet_state(a) in LIVE_STATES and net(a["ipv6CidrBlock"]).subnet_of(vpc_block):
                        raise EC2ClientError(
                            "InvalidCidrBlock.InUse",
                            f"The IPv6 CIDR block {entry['cidr_block']} of {self.id} is in use "
                            f"by subnet {subnet.id} ({a['ipv6CidrBlock']}).",
                        )
        response = json.loads(json.dumps(entry))
        response["vpc_id"] = self.id
        response["cidr_block_state"]["state"] = "disassociating"
        n = reads()
        with STATE.lock:
            if n:
                entry["cidr_block_state"] = {"state": "disassociating", "StatusMessage": None}
                entry["_reads_left"] = n
            else:
                del self._cidr_block_association_set[association_id]
        return response

    VPC.disassociate_vpc_cidr_block = vpc_disassociate

    def tick_vpc(vpc: Any) -> None:
        with STATE.lock:
            for assoc_id, a in list(vpc._cidr_block_association_set.items()):
                if "::/" not in a.get("cidr_block", ""):
                    continue
                state = a["cidr_block_state"]["state"]
                if state not in ("associating", "disassociating"):
                    continue
                if a.get("_reads_left", 0) > 0:
                    a["_reads_left"] -= 1
                elif state == "associating":
                    a["cidr_block_state"] = {"state": "associated", "StatusMessage": None}
                else:
                    del vpc._cidr_block_association_set[assoc_id]

    def describe_vpcs(self: Any) -> Any:
        self.error_on_dryrun()
        vpc_ids = self._get_param("VpcIds", [])
        filters = self._filters_from_querystring()
        vpcs = self.ec2_backend.describe_vpcs(vpc_ids=vpc_ids, filters=filters)
        for vpc in vpcs:
            tick_vpc(vpc)
        return ActionResult({"Vpcs": vpcs})

    VPCs.describe_vpcs = describe_vpcs

    # ---- g: routes ----------------------------------------------------------

    original_create_route = RouteTables.create_route

    def create_route(self: Any) -> Any:
        destination = self._get_param("DestinationIpv6CidrBlock")
        if destination:
            route_table = self.ec2_backend.get_route_table(self._get_param("RouteTableId"))
            try:
                wanted = net(destination)
            except ValueError:
                wanted = None
            for route in route_table.routes:
                existing = route.destination_ipv6_cidr_block
                if wanted is not None and existing and net(existing) == wanted:
                    # moto would silently replace the existing route.
                    raise RouteAlreadyExistsError(destination)
        return original_create_route(self)

    RouteTables.create_route = create_route

    # ---- g: egress-only internet gateway filters ----------------------------

    def eigw_get_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == "attachment.vpc-id":
            return self.vpc_id
        if filter_name == "attachment.state":
            return self.state
        if filter_name == "egress-only-internet-gateway-id":
            return self.id
        return super(EgressOnlyInternetGateway, self).get_filter_value(
            filter_name, "DescribeEgressOnlyInternetGateways"
        )

    EgressOnlyInternetGateway.get_filter_value = eigw_get_filter_value

    def describe_egress_only_internet_gateways(self: Any) -> Any:
        ids = self._get_param("EgressOnlyInternetGatewayIds", [])
        filters = self._filters_from_querystring()
        gateways = self.ec2_backend.describe_egress_only_internet_gateways(ids)
        if filters:
            gateways = generic_filter(filters, gateways)
        return ActionResult({"EgressOnlyInternetGateways": gateways})

    EgressOnlyInternetGatewayResponse.describe_egress_only_internet_gateways = (
        describe_egress_only_internet_gateways
    )

    # ---- h: ELBv2 ip address types and default scheme -----------------------

    ip_address_types = ("ipv4", "dualstack", "dualstack-without-public-ipv4")

    def validate_ip_address_type(
        ec2_backend: Any, ip_type: str, subnets: list[Any], lb_type: str, scheme: str
    ) -> None:
        if ip_type not in ip_address_types:
            raise ELBClientError(
                "ValidationError",
                f"1 validation error detected: Value '{ip_type}' at 'ipAddressType' failed "
                "to satisfy constraint: Member must satisfy enum value set: "
                "[ipv4, dualstack, dualstack-without-public-ipv4]",
            )
        if ip_type == "ipv4":
            return
        if ip_type == "dualstack-without-public-ipv4" and (
            lb_type != "application" or scheme != "internet-facing"
        ):
            raise ELBClientError(
                "ValidationError",
                "IP address type 'dualstack-without-public-ipv4' is only supported "
                "for internet-facing Application Load Balancers",
            )
        for subnet in subnets:
            current = ec2_backend.get_subnet(subnet.id)  # the live subnet state
            if not subnet_has_associated_block(current):
                raise ELBClientError(
                    "ValidationError",
                    f"Subnet '{subnet.id}' must have an IPv6 CIDR block associated "
                    f"to use IP address type '{ip_type}'",
                )

    def set_ip_address_type(self: Any, arn: str, ip_type: str) -> None:
        balancer = self.load_balancers.get(arn)
        if ip_type in ip_address_types and balancer is None:
            raise LoadBalancerNotFoundError()
        validate_ip_address_type(
            self.ec2_backend,
            ip_type,
            balancer.subnets if balancer else [],
            balancer.type if balancer else "application",
            balancer.scheme if balancer else "internet-facing",
        )
        balancer.ip_address_type = ip_type

    ELBv2Backend.set_ip_address_type = set_ip_address_type

    original_create_load_balancer = ELBv2Backend.create_load_balancer

    def create_load_balancer(
        self: Any,
        name: str,
        security_groups: list[str],
        subnet_ids: list[str],
        subnet_mappings: list[dict[str, str]] | None = None,
        scheme: str | None = "internet-facing",
        loadbalancer_type: str | None = None,
        ip_address_type: str | None = "ipv4",
        tags: list[dict[str, str]] | None = None,
    ) -> Any:
        scheme = scheme or "internet-facing"  # AWS's default scheme
        ip_address_type = ip_address_type or "ipv4"
        if ip_address_type != "ipv4":
            subnets = []
            for subnet_id in list(subnet_ids or []) + [
                m["SubnetId"] for m in subnet_mappings or [] if "SubnetId" in m
            ]:
                try:
                    subnets.append(self.ec2_backend.get_subnet(subnet_id))
                except Exception:
                    pass  # unknown subnets are reported by moto below
            validate_ip_address_type(
                self.ec2_backend, ip_address_type, subnets, loadbalancer_type or "application", scheme
            )
        balancer = original_create_load_balancer(
            self,
            name,
            security_groups,
            subnet_ids,
            subnet_mappings,
            scheme,
            loadbalancer_type,
            "ipv4",  # moto's own enum check lacks dualstack-without-public-ipv4
            tags,
        )
        balancer.ip_address_type = ip_address_type
        return balancer

    ELBv2Backend.create_load_balancer = create_load_balancer

    # ---- i: DryRun is answered by the control middleware (ControlMiddleware) -

    # ---- j, k, l, m ---------------------------------------------------------
    correct_ipv6_addresses()
    correct_target_groups()
    import ecs_model

    STATE.ecs = ecs_model.install(STATE, TARGET_API, CALLER_ARN, associated_ipv6_blocks)
    STATE.ecs.set_default_timings(STATE.ecs_timings)

    # ---- n: network ACLs, Route 53, ELBv2 hosted zones (dns_nacl_model.py) ----
    # Installed last: it wraps VPC.associate_vpc_cidr_block as corrected above.
    import dns_nacl_model

    STATE.dns_nacl = dns_nacl_model.install(STATE)
    STATE.dns_nacl.set_defaults(STATE.nacl_entry_quota, STATE.change_pending_reads)

    # ---- o: S3 conditional writes (s3_model.py) -------------------------------
    import s3_model

    s3_model.install(STATE.s3)


# ---------------------------------------------------------------------------
# j. IPv6 addresses of network interfaces and instances
# ---------------------------------------------------------------------------


def associated_ipv6_blocks(subnet: Any) -> list[ipaddress.IPv6Network]:
    """The subnet's IPv6 blocks that are *associated* (not associating/disassociating)."""
    return [
        ipaddress.IPv6Network(a["ipv6CidrBlock"], strict=False)
        for a in subnet.ipv6_cidr_block_associations.values()
        if a["ipv6CidrBlockState"]["State"] == "associated"
    ]


def correct_ipv6_addresses() -> None:
    import random

    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
    from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces

    def no_block(subnet: Any) -> EC2ClientError:
        # Code as we understand AWS (not confirmed against a live account).
        return EC2ClientError(
            "InvalidParameterValue",
            f"The subnet {subnet.id} does not have an IPv6 CIDR block associated with it; "
            "IPv6 addresses cannot be assigned to its network interfaces.",
        )

    def used_addresses(backend: Any, subnet: Any) -> set[str]:
        used = set()
        for eni in backend.get_all_network_interfaces():
            if eni.subnet is not None and eni.subnet.id == subnet.id:
                for address in eni.ipv6_addresses or []:
                    try:
                        used.add(str(ipaddress.ip_address(str(address))))
                    except ValueError:
                        used.add(str(address))
        return used

    def checked(subnet: Any, address: Any, blocks: list[ipaddress.IPv6Network]) -> str:
        try:
            parsed = ipaddress.IPv6Address(str(address))
        except ValueError:
            raise EC2ClientError(
                "InvalidParameterValue", f"Value ({address}) for parameter ipv6Addresses is invalid."
            )
        if not any(parsed in block for block in blocks):
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Address {address} does not fall within the IPv6 address range of subnet {subnet.id}",
            )
        return str(parsed)

    def pick(block: ipaddress.IPv6Network, taken: set[str]) -> str:
        # AWS reserves the first four and the last address of each subnet block.
        while True:
            candidate = str(block.network_address + random.randint(4, block.num_addresses - 2))
            if candidate not in taken:
                return candidate

    def allocate(backend: Any, subnet: Any, explicit: list[Any], count: int, required: bool) -> list[str]:
        if not explicit and not count:
            return []
        blocks = associated_ipv6_blocks(subnet)
        if not blocks:
            if required:
                raise no_block(subnet)
            return []
        chosen = [checked(subnet, address, blocks) for address in explicit]
        taken = used_addresses(backend, subnet) | set(chosen)
        for _ in range(count):
            address = pick(blocks[0], taken)
            chosen.append(address)
            taken.add(address)
        return chosen

    original_create_eni = NetworkInterfaceBackend.create_network_interface

    def create_network_interface(
        self: Any,
        subnet: Any,
        private_ip_address: Any,
        private_ip_addresses: Any = None,
        group_ids: Any = None,
        description: Any = None,
        tags: Any = None,
        delete_on_termination: Any = False,
        **kwargs: Any,
    ) -> Any:
        subnet_obj = self.get_subnet(subnet) if isinstance(subnet, str) else subnet
        explicit = list(kwargs.get("ipv6_addresses") or [])
        count = int(kwargs.get("ipv6_address_count") or 0)
        required = bool(explicit or count)
        # ECS task interfaces (correction m) decide for themselves: their
        # IPv6 address also depends on the account setting dualStackIPv6.
        auto_ipv6 = kwargs.pop("auto_ipv6", True)
        if not required and auto_ipv6 and subnet_obj.assign_ipv6_address_on_creation:
            count = 1  # AWS: a new ENI in such a subnet gets one address of its /64
        with STATE.lock:
            kwargs["ipv6_addresses"] = allocate(self, subnet_obj, explicit, count, required)
            kwargs["ipv6_address_count"] = 0  # moto would pick from any (even disassociating) block
            return original_create_eni(
                self,
                subnet,
                private_ip_address,
                private_ip_addresses,
                group_ids,
                description,
                tags,
                delete_on_termination,
                **kwargs,
            )

    NetworkInterfaceBackend.create_network_interface = create_network_interface

    def assign_ipv6_addresses_backend(
        self: Any, eni_id: str, ipv6_addresses: list[str] | None = None, ipv6_count: int | None = None
    ) -> Any:
        eni = self.get_network_interface(eni_id)
        with STATE.lock:
            new = allocate(self, eni.subnet, list(ipv6_addresses or []), int(ipv6_count or 0), True)
            eni.ipv6_addresses.extend(a for a in new if a not in eni.ipv6_addresses)
        return eni

    NetworkInterfaceBackend.assign_ipv6_addresses = assign_ipv6_addresses_backend

    def assign_ipv6_addresses_response(self: Any) -> Any:
        eni_id = self._get_param("NetworkInterfaceId")
        count = self._get_int_param("Ipv6AddressCount", 0)
        addresses = self._get_param("Ipv6Addresses", [])
        before = set(self.ec2_backend.get_network_interface(eni_id).ipv6_addresses)
        eni = self.ec2_backend.assign_ipv6_addresses(eni_id, addresses, count)
        # AWS answers the addresses this call assigned; moto lists all of them.
        return ActionResult(
            {
                "AssignedIpv6Addresses": [a for a in eni.ipv6_addresses if a not in before],
                "NetworkInterfaceId": eni.id,
            }
        )

    ElasticNetworkInterfaces.assign_ipv6_addresses = assign_ipv6_addresses_response


# ---------------------------------------------------------------------------
# k/l. ELBv2 target groups, forward actions and target health
# ---------------------------------------------------------------------------

TARGET_HEALTH_STATES = ("healthy", "unhealthy", "unused", "draining", "initial", "unavailable")

# Reason and description AWS gives with each state (defaults for overrides).
TARGET_HEALTH_REASONS: dict[str, tuple[str | None, str | None]] = {
    "healthy": (None, None),
    "initial": ("Elb.RegistrationInProgress", "Target registration is in progress"),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "unused": ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "unavailable": ("Target.HealthCheckDisabled", "Health checks are disabled"),
}


# Filled by correct_target_groups(): register / deregister / forget / health
# of ECS task targets, for the ECS model (correction m, ecs_model.py).
TARGET_API: dict[str, Any] = {}


def forward_target_group_arns(action: dict[str, Any]) -> list[str]:
    """Target groups a listener/rule action (its request or stored form) forwards to."""
    if action.get("Type") != "forward":
        return []
    arns: list[str] = []
    if action.get("TargetGroupArn"):
        arns.append(action["TargetGroupArn"])
    for group in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
        arn = group.get("TargetGroupArn")
        if arn and arn not in arns:
            arns.append(arn)
    return arns


def correct_target_groups() -> None:
    from moto.elbv2.exceptions import (
        DuplicateTargetGroupName,
        InvalidTargetError,
        TargetGroupNotFoundError,
        TargetNotRunning,
        ValidationError,
    )
    from moto.elbv2.models import ELBv2Backend, FakeAction, FakeRule, FakeTargetGroup, elbv2_backends
    from moto.moto_api._internal import mock_random

    def lb_target_group_arns(balancer: Any) -> set[str]:
        arns: set[str] = set()
        for listener in balancer.listeners.values():
            for rule in listener.rules.values():
                for action in rule.actions:
                    arns.update(forward_target_group_arns(action.data))
        return arns

    # ---- k: LoadBalancerArns follow the listeners and rules -----------------
    # moto appends an ARN per CreateListener/CreateRule (duplicates), never
    # for ModifyListener/ModifyRule, and never removes one.

    def load_balancer_arns(self: Any) -> list[str]:
        backend = elbv2_backends[self.account_id][self.region_name]
        return [lb.arn for lb in list(backend.load_balancers.values()) if self.arn in lb_target_group_arns(lb)]

    FakeTargetGroup.load_balancer_arns = property(load_balancer_arns, lambda self, value: None)

    # ---- k: rule ARNs end in 16 hex digits (moto: a Python object id) --------

    original_rule_init = FakeRule.__init__

    def rule_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_rule_init(self, *args, **kwargs)
        self.arn = self.listener_arn.replace(":listener/", ":listener-rule/") + "/" + mock_random.get_random_hex(16)

    FakeRule.__init__ = rule_init

    # ---- k: forward actions render TargetGroupArn and ForwardConfig as AWS -----

    original_action_init = FakeAction.__init__

    def action_init(self: Any, data: dict[str, Any]) -> None:
        if data.get("Type") == "forward":
            config = data.get("ForwardConfig") or {}
            groups = config.get("TargetGroups") or []
            if data.get("TargetGroupArn") and not groups:
                data["ForwardConfig"] = {
                    **config,
                    "TargetGroups": [{"TargetGroupArn": data["TargetGroupArn"], "Weight": 1}],
                }
            elif len(groups) == 1 and not data.get("TargetGroupArn"):
                data["TargetGroupArn"] = groups[0].get("TargetGroupArn")
        original_action_init(self, data)

    FakeAction.__init__ = action_init

    # ---- k: an ipv6 target group needs a dualstack load balancer -------------

    def check_forward_compat(backend: Any, balancer: Any, actions: list[dict[str, Any]]) -> None:
        if balancer is None or balancer.ip_address_type != "ipv4":
            return
        for action in actions:
            for arn in forward_target_group_arns(action):
                group = backend.target_groups.get(arn)
                if group is not None and group.ip_address_type == "ipv6":
                    raise ValidationError(
                        f"Target group '{arn}' has IP address type 'ipv6' and cannot be used with "
                        f"load balancer '{balancer.arn}' of IP address type 'ipv4'; "
                        "IPv6 target groups need a dualstack load balancer"
                    )

    original_create_listener = ELBv2Backend.create_listener

    def create_listener(
        self: Any,
        load_balancer_arn: str,
        protocol: str,
        port: str,
        ssl_policy: str,
        certificate: str | None,
        actions: list[dict[str, Any]],
        alpn_policy: list[str] | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> Any:
        check_forward_compat(self, self.load_balancers.get(load_balancer_arn), actions or [])
        return original_create_listener(
            self, load_balancer_arn, protocol, port, ssl_policy, certificate, actions, alpn_policy, tags
        )

    ELBv2Backend.create_listener = create_listener

    original_modify_listener = ELBv2Backend.modify_listener

    def modify_listener(
        self: Any,
        arn: str,
        port: str | None = None,
        protocol: str | None = None,
        ssl_policy: str | None = None,
        certificates: list[dict[str, Any]] | None = None,
        actions: list[dict[str, Any]] | None = None,
    ) -> Any:
        if actions:
            listener = self.describe_listeners(None, [arn])[0]
            # moto stores the new actions without checking the target groups exist.
            self._validate_actions([FakeAction(copy.deepcopy(a)) for a in actions])
            check_forward_compat(self, self.load_balancers.get(listener.load_balancer_arn), actions)
        return original_modify_listener(self, arn, port, protocol, ssl_policy, certificates, actions)

    ELBv2Backend.modify_listener = modify_listener

    original_create_rule = ELBv2Backend.create_rule

    def create_rule(
        self: Any,
        listener_arn: str,
        conditions: list[dict[str, Any]],
        priority: int,
        actions: list[dict[str, Any]],
        tags: list[dict[str, str]] | None = None,
    ) -> Any:
        listeners = self.describe_listeners(None, [listener_arn])
        if listeners:
            check_forward_compat(self, self.load_balancers.get(listeners[0].load_balancer_arn), actions or [])
        return original_create_rule(self, listener_arn, conditions, priority, actions, tags)

    ELBv2Backend.create_rule = create_rule

    original_modify_rule = ELBv2Backend.modify_rule

    def modify_rule(
        self: Any, rule_arn: str, conditions: list[dict[str, Any]], actions: list[dict[str, Any]]
    ) -> Any:
        if actions:
            rules = self.describe_rules(listener_arn=None, rule_arns=[rule_arn])
            listeners = self.describe_listeners(None, [rules[0].listener_arn]) if rules else []
            if listeners:
                check_forward_compat(self, self.load_balancers.get(listeners[0].load_balancer_arn), actions)
        return original_modify_rule(self, rule_arn, conditions, actions)

    ELBv2Backend.modify_rule = modify_rule

    corrected_set_ip_address_type = ELBv2Backend.set_ip_address_type

    def set_ip_address_type(self: Any, arn: str, ip_type: str) -> None:
        balancer = self.load_balancers.get(arn)
        if balancer is not None and ip_type == "ipv4":
            for tg_arn in sorted(lb_target_group_arns(balancer)):
                group = self.target_groups.get(tg_arn)
                if group is not None and group.ip_address_type == "ipv6":
                    raise ValidationError(
                        f"The load balancer '{arn}' forwards to IPv6 target group '{tg_arn}'; "
                        "its IP address type cannot be set to 'ipv4'"
                    )
        return corrected_set_ip_address_type(self, arn, ip_type)

    ELBv2Backend.set_ip_address_type = set_ip_address_type

    # ---- k: CreateTargetGroup is idempotent; IpAddressType is ipv4|ipv6 --------

    def settings(group: Any) -> tuple[Any, ...]:
        return (
            group.protocol,
            group.protocol_version,
            str(group.port),
            group.vpc_id,
            group.target_type,
            group.ip_address_type,
            group.health_check_protocol,
            str(group.health_check_port),
            group.health_check_path,
            group.health_check_enabled,
            str(group.health_check_interval_seconds),
            str(group.health_check_timeout_seconds),
            str(group.healthy_threshold_count),
            str(group.unhealthy_threshold_count),
            json.dumps(getattr(group, "matcher", None), sort_keys=True),
        )

    original_create_target_group = ELBv2Backend.create_target_group

    def create_target_group(self: Any, name: str, **kwargs: Any) -> Any:
        ip_type = kwargs.get("ip_address_type")
        if ip_type is not None and ip_type not in ("ipv4", "ipv6"):
            raise ValidationError(
                f"1 validation error detected: Value '{ip_type}' at 'ipAddressType' failed to "
                "satisfy constraint: Member must satisfy enum value set: [ipv4, ipv6]"
            )
        with STATE.lock:
            existing = next((g for g in self.target_groups.values() if g.name == name), None)
            if existing is None:
                return original_create_target_group(self, name, **kwargs)
            # Build the group the request describes (moto's validation and
            # defaults), without keeping it, and compare it with the existing one.
            saved = list(self.target_groups.items())
            del self.target_groups[existing.arn]
            try:
                candidate = original_create_target_group(self, name, **dict(kwargs, tags=None))
            finally:
                self.target_groups.clear()
                self.target_groups.update(saved)
            if settings(candidate) != settings(existing):
                raise DuplicateTargetGroupName()
            return existing  # AWS: same name and settings answers the existing group

    ELBv2Backend.create_target_group = create_target_group

    # ---- k/l: registrations keyed by (Id, Port), family checked, health tracked
    # Each target group gets `_ds_targets`: (Id, Port) -> record with "state"
    # ("registered" or "draining") and "reads_left" (describes still showing
    # initial, or draining).

    def records(group: Any) -> dict[tuple[str, Any], dict[str, Any]]:
        store = group.__dict__.get("_ds_targets")
        if store is None:
            store = group.__dict__["_ds_targets"] = {}
        return store

    def port_of(group: Any, target: dict[str, Any]) -> int | None:
        port = target.get("Port")
        if port is None:
            port = group.port
        return int(port) if port is not None else None

    def check_family(group: Any, targets: list[dict[str, Any]]) -> None:
        if group.target_type != "ip":
            return
        version = 6 if group.ip_address_type == "ipv6" else 4
        bad = []
        for target in targets:
            try:
                if ipaddress.ip_address(str(target["Id"])).version != version:
                    bad.append(str(target["Id"]))
            except ValueError:
                bad.append(str(target["Id"]))
        if bad:
            raise ValidationError(
                f"The following targets are not valid IPv{version} addresses for target group "
                f"'{group.name}', whose IP address type is '{group.ip_address_type}': {', '.join(bad)}"
            )

    def register(self: Any, targets: list[dict[str, Any]]) -> None:
        check_family(self, targets)
        for target in targets:
            if str(target["Id"]).startswith("i-"):
                instance = self.ec2_backend.get_instance_by_id(target["Id"])
                if instance is not None and instance.state != "running":
                    raise TargetNotRunning(instance_id=target["Id"])
        store = records(self)
        with STATE.lock:
            for target in targets:
                key = (str(target["Id"]), port_of(self, target))
                record = store.get(key)
                if record is not None and record["state"] == "registered":
                    continue  # registering a registered target changes nothing
                store.pop(key, None)
                store[key] = {
                    "Id": key[0],
                    "Port": key[1],
                    "AvailabilityZone": target.get("AvailabilityZone"),
                    "state": "registered",
                    "reads_left": max(0, int(STATE.initial_health_reads)),
                }

    FakeTargetGroup.register = register

    def deregister(self: Any, targets: list[dict[str, Any]]) -> None:
        store = records(self)
        with STATE.lock:
            keys = []
            for target in targets:
                key = (str(target["Id"]), port_of(self, target))
                record = store.get(key)
                if record is None or record["state"] != "registered":
                    raise InvalidTargetError()
                keys.append(key)
            for key in keys:
                store[key].update(state="draining", reads_left=1)

    FakeTargetGroup.deregister = deregister

    def deregister_terminated_instances(self: Any, instance_ids: list[str]) -> None:
        with STATE.lock:
            for record in records(self).values():
                if record["Id"] in instance_ids and record["state"] == "registered":
                    record.update(state="draining", reads_left=1)

    FakeTargetGroup.deregister_terminated_instances = deregister_terminated_instances

    def find_override(group: Any, record: dict[str, Any]) -> dict[str, Any] | None:
        overrides = STATE.health_overrides
        levels = [(record["Id"], record["Port"]), (record["Id"], None)]
        if record["state"] == "registered":  # "*": every registered target of the group
            levels += [("*", record["Port"]), ("*", None)]
        for target, port in levels:
            found = [
                overrides[key]
                for key in ((group.arn, target, port), (group.name, target, port))
                if key in overrides
            ]
            if found:
                return max(found, key=lambda o: o["seq"])
        return None

    def describe(group: Any, record: dict[str, Any], at: float | None = None) -> dict[str, Any]:
        state, reason, description = "healthy", None, None
        if record["state"] == "unregistered":
            state, reason, description = "unused", "Target.NotRegistered", "Target is not registered to the target group"
        elif record["state"] == "draining":
            state = "draining"
            reason, description = TARGET_HEALTH_REASONS[state]
        elif record.get("natural") is not None:
            # A target ECS registered (correction m): its health follows the
            # task on the wall clock, not the read count.
            state, reason, description = record["natural"](at)
        else:
            instance = None
            if record["Id"].startswith("i-"):
                instance = group.ec2_backend.get_instance_by_id(record["Id"])
            if instance is not None and instance.state == "stopped":
                state, reason, description = "unused", "Target.InvalidState", "Target is in the stopped state"
            elif record["reads_left"] > 0:
                state = "initial"
                reason, description = TARGET_HEALTH_REASONS[state]
        override = find_override(group, record)
        if override is not None:
            state, reason, description = override["state"], override["reason"], override["description"]

        target: dict[str, Any] = {"Id": record["Id"]}
        if record["Port"] is not None:
            target["Port"] = record["Port"]
        if record.get("AvailabilityZone"):
            target["AvailabilityZone"] = record["AvailabilityZone"]
        health: dict[str, Any] = {"State": state}
        if reason:
            health["Reason"] = reason
        if description:
            health["Description"] = description
        answer: dict[str, Any] = {"Target": target, "TargetHealth": health}
        health_port = group.health_check_port
        if health_port in (None, "traffic-port"):
            health_port = record["Port"]  # AWS renders the port it checks, e.g. "80"
        if health_port is not None:
            answer["HealthCheckPort"] = str(health_port)
        return answer

    def tick(store: dict[tuple[str, Any], dict[str, Any]], record: dict[str, Any]) -> None:
        if record["state"] == "unregistered":
            return
        if record["reads_left"] > 0:
            record["reads_left"] -= 1
        if record["state"] == "draining" and record["reads_left"] <= 0:
            store.pop((record["Id"], record["Port"]), None)

    def describe_target_health(self: Any, target_group_arn: str, targets: list[dict[str, Any]]) -> list[Any]:
        group = self.target_groups.get(target_group_arn)
        if group is None:
            raise TargetGroupNotFoundError()
        store = records(group)
        with STATE.lock:
            picked: list[dict[str, Any]] = []
            if targets:
                for target in targets:
                    target_id = str(target["Id"])
                    if target.get("Port") is not None:
                        key = (target_id, int(target["Port"]))
                        found = [store[key]] if key in store else []
                    else:
                        found = [r for r in store.values() if r["Id"] == target_id]
                    picked += found or [
                        {"Id": target_id, "Port": port_of(group, target), "state": "unregistered"}
                    ]
            else:
                picked = list(store.values())
            answer = [describe(group, record) for record in picked]
            seen: set[int] = set()
            for record in picked:
                if id(record) not in seen:
                    seen.add(id(record))
                    tick(store, record)
        return answer

    ELBv2Backend.describe_target_health = describe_target_health

    # ---- m: what the ECS model (ecs_model.py) uses to register its tasks ------

    def ecs_register(group: Any, ip: str, port: int, natural: Callable[[float | None], tuple[str, Any, Any]]) -> None:
        """Register a task's address; `natural(at)` gives (state, reason,
        description) at time `at` (None: now) while it is registered."""
        group.register([{"Id": ip, "Port": port}])
        with STATE.lock:
            record = records(group)[(ip, port)]
            record.update(natural=natural, reads_left=0)

    def ecs_deregister(group: Any, ip: str, port: int) -> bool:
        """Start draining a task's target; it stays draining (whatever the
        reads) until ecs_forget. False if it was not registered."""
        with STATE.lock:
            record = records(group).get((ip, port))
            if record is None or record["state"] != "registered":
                return False
            record.update(state="draining", reads_left=float("inf"))
            return True

    def ecs_forget(group: Any, ip: str, port: int) -> None:
        """End of the deregistration delay: a draining target disappears."""
        with STATE.lock:
            store = records(group)
            record = store.get((ip, port))
            if record is not None and record["state"] == "draining":
                del store[(ip, port)]

    def ecs_health(group: Any, ip: str, port: int, at: float | None = None) -> str:
        """The state DescribeTargetHealth would report (overrides included),
        without counting as a read."""
        with STATE.lock:
            record = records(group).get((ip, port)) or {"Id": ip, "Port": port, "state": "unregistered"}
            return describe(group, record, at)["TargetHealth"]["State"]

    TARGET_API.update(
        register=ecs_register,
        deregister=ecs_deregister,
        forget=ecs_forget,
        health=ecs_health,
        reasons=TARGET_HEALTH_REASONS,
    )


# ---------------------------------------------------------------------------
# AWS-style error bodies (for injected faults and released holds): aws_error()
# lives in awswire.py, shared with faultproxy.py
# ---------------------------------------------------------------------------

# Default HTTP status of an injected fault, by code (AWS's; anything else: 400).
FAULT_STATUS = {
    "InternalError": 500,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
    "Unavailable": 503,
    "RequestLimitExceeded": 503,  # EC2 throttling (ELBv2's Throttling is a 400)
    "SlowDown": 503,  # S3 throttling
    "ConditionalRequestConflict": 409,  # S3: a conflicting conditional write in progress
    "PreconditionFailed": 412,
    "NoSuchKey": 404,
    "NoSuchBucket": 404,
}


# ---------------------------------------------------------------------------
# Control middleware
# ---------------------------------------------------------------------------

_HOST_SERVICE = re.compile(r"^(ec2|elasticloadbalancing)\.")

# Requests of these services advance the ECS model's clock (correction m).
TICKING_SERVICES = ("ec2", "elasticloadbalancing", "ecs")


def request_params(environ: dict[str, Any], body: bytes) -> dict[str, list[str]]:
    """Query-protocol parameters of an AWS request: query string plus form body."""
    params = parse_qs(environ.get("QUERY_STRING", ""))
    if body and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qs(body.decode("utf-8", "replace")))
    return params


def is_dry_run(service: str, params: dict[str, list[str]]) -> bool:
    """An EC2 request sent with DryRun=true (ELBv2 has no DryRun)."""
    return service == "ec2" and params.get("DryRun", [""])[0].strip().lower() == "true"


# What AWS answers a caller for an action its IAM policy does not allow, and
# (EC2) a dry run it does allow.
UNAUTHORIZED_MESSAGE = "You are not authorized to perform this operation."
DRY_RUN_MESSAGE = "Request would have succeeded, but DryRun flag is set."
CALLER_ARN = "arn:aws:iam::123456789012:user/test"  # moto's default account

_no_dry_run_lock = threading.Lock()
_no_dry_run: frozenset[str] | None = None


def ec2_actions_without_dry_run() -> frozenset[str]:
    """EC2 actions whose API has no DryRun parameter (botocore's EC2 model,
    which moto depends on): AssociateVpcCidrBlock, ModifySubnetAttribute, ..."""
    global _no_dry_run
    with _no_dry_run_lock:
        if _no_dry_run is None:
            import botocore.session

            model = botocore.session.get_session().get_service_model("ec2")
            without = set()
            for name in model.operation_names:
                shape = model.operation_model(name).input_shape
                if shape is None or "DryRun" not in shape.members:
                    without.add(name)
            _no_dry_run = frozenset(without)
        return _no_dry_run


def denial_error(
    service: str, action: str | None, s3: S3Call | None = None, iam_action: str | None = None
) -> tuple[str, list[tuple[str, str]], bytes]:
    """AWS's answer to a caller without the permission for `action` (S3: for
    `iam_action`, one of the IAM actions the request `s3` needs)."""
    if service == "s3":
        # S3's REST XML, HTTP 403, with the context AWS adds for callers of
        # the bucket owner's account (S3 User Guide, "Access denied message
        # examples": "User: user-arn is not authorized to perform: action on
        # "resource-arn" because context").
        name = f"s3:{iam_action or action}"
        resource = s3.resource if s3 is not None else "*"
        return aws_error(
            "s3",
            "AccessDenied",
            f'User: {CALLER_ARN} is not authorized to perform: {name} on resource: "{resource}" '
            f"because no identity-based policy allows the {name} action",
            403,
        )
    if service == "elasticloadbalancing":
        return aws_error(
            service,
            "AccessDenied",
            f"User: {CALLER_ARN} is not authorized to perform: {service}:{action}",
            403,
        )
    if service == "ecs":
        # JSON protocol: AccessDeniedException, HTTP 400.
        return aws_error(
            service,
            "AccessDeniedException",
            f"User: {CALLER_ARN} is not authorized to perform: ecs:{action} on resource: *",
            400,
        )
    return aws_error(service, "UnauthorizedOperation", UNAUTHORIZED_MESSAGE, 403)


class EnvironHeaders:
    """Case-insensitive ``get`` of a WSGI environ's request headers."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ

    def get(self, name: str, default: Any = None) -> Any:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return self.environ.get(key, default)
        return self.environ.get("HTTP_" + key, default)


def s3_request(environ: dict[str, Any]) -> S3Call:
    """The S3 operation of a REST request (path-style, or virtual-hosted)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    path = raw.split("?", 1)[0]
    if "://" in path:  # absolute form
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    if not path:
        from urllib.parse import quote

        path = quote(environ.get("PATH_INFO", "/"))
    return s3_call(
        environ.get("REQUEST_METHOD", "GET"),
        path,
        environ.get("QUERY_STRING", ""),
        EnvironHeaders(environ),
        environ.get("HTTP_HOST", ""),
    )


def classify(environ: dict[str, Any], body: bytes) -> tuple[str, str | None]:
    """(service, Action) of an AWS request."""
    service = signing_service(environ.get("HTTP_AUTHORIZATION", ""), environ.get("QUERY_STRING", ""))
    if service is None:
        host = environ.get("HTTP_HOST", "")
        host_match = _HOST_SERVICE.match(host)
        if host_match:
            service = host_match.group(1)
        elif is_s3_host(host):
            service = "s3"
    # Route 53 speaks REST: the method and path name the action.
    rest = rest_action(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
    if rest:
        return "route53", rest
    # So does S3: method, path, query (correction o's requests, denials).
    if service == "s3":
        return "s3", s3_request(environ).action
    action = request_params(environ, body).get("Action", [None])[0]
    if action is None:
        # JSON protocols (ECS) name the action in a header:
        # ``X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters``.
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        action = target.rsplit(".", 1)[-1] or None
    return service or "unknown", action


class ControlMiddleware:
    """Logs, faults and holds AWS requests; serves /_emulator/ itself."""

    def __init__(self, app: Callable[..., Any], state: EmulatorState) -> None:
        self.app = app
        self.state = state

    # -- WSGI entry point ---------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/_emulator" or path.startswith("/_emulator/"):
            return self.control(environ, start_response)
        if path.startswith("/moto-api"):
            if self.state.pristine:
                return self.app(environ, start_response)
            with self.state.moto_lock:  # one moto call at a time (correction m)
                status, headers, data = self._call_app(environ)
            start_response(status, headers)
            return [data]

        body = self._read_body(environ)
        service, action = classify(environ, body)
        s3 = s3_request(environ) if service == "s3" else None
        dry_run = is_dry_run(service, request_params(environ, body))
        entry: dict[str, Any] = {"service": service, "action": action, "mutating": False, "status": None}
        if dry_run:
            entry["dry_run"] = True

        state = self.state
        answer = None
        with state.lock:
            state.calls.append(entry)
            if dry_run and not state.pristine:  # correction i
                fault = self._take_fault(service, action, dry_run=True)
                if fault is not None:
                    answer = aws_error(service, fault["code"], fault["message"], fault["status"])
                elif action in ec2_actions_without_dry_run():
                    answer = aws_error(service, "UnknownParameter", "The parameter DryRun is not recognized", 400)
                elif self._is_denied(service, action):
                    entry["denied"] = True
                    answer = denial_error(service, action)
                else:
                    answer = aws_error(service, "DryRunOperation", DRY_RUN_MESSAGE, 412)
            elif (denied := self._denied_action(service, action, s3)) is not None:
                entry["denied"] = True
                answer = denial_error(service, action, s3, denied)
            else:
                # With --pristine a dry run goes to moto, which may apply it.
                entry["mutating"] = is_mutating(action)
        if answer is not None:  # answered here: never applied, never held
            status, headers, data = self._for_method(environ, answer)
            entry["status"] = int(status.split(" ", 1)[0])
            start_response(status, headers)
            return [data]

        mutating = entry["mutating"]
        hold = None
        fault = None
        with state.lock:
            if mutating and state.hold is not None and state.hold.armed and not state.hold.held:
                state.hold.seen += 1
                if state.hold.seen == state.hold.mutation:
                    hold = state.hold
                    hold.held = True
                    hold.action = action
            if not (hold and hold.when == "before"):
                fault = self._take_fault(service, action, dry_run=dry_run)

        if hold is not None and hold.when == "before":
            hold.released.wait()  # never applied
            status, headers, data = aws_error(
                service, "InternalError", "request held and released by the emulator", 500
            )
        elif fault is not None:
            status, headers, data = aws_error(service, fault["code"], fault["message"], fault["status"])
        else:
            try:
                status, headers, data = self._call_moto(environ, service)
            except BaseException:
                # moto runs Flask in debug mode: unexpected errors (e.g.
                # FilterNotImplementedError) propagate and werkzeug answers
                # its HTML 500 page. Log that status and keep moto's behaviour.
                entry["status"] = 500
                if hold is not None and hold.when == "after":
                    hold.released.wait()
                raise

        if hold is not None and hold.when == "after":
            hold.released.wait()  # applied; the real answer is withheld
            status, headers, data = aws_error(
                service, "InternalError", "response withheld and released by the emulator", 500
            )
        if hold is not None or fault is not None:
            status, headers, data = self._for_method(environ, (status, headers, data))

        entry["status"] = int(status.split(" ", 1)[0])
        start_response(status, headers)
        return [data]

    # -- helpers --------------------------------------------------------------

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
        return body

    def _is_denied(self, service: str, action: str | None) -> bool:
        """Whether `service:action` matches a denied IAM action (caller holds the lock)."""
        if not action:
            return False
        name = f"{service}:{action}".lower()
        return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in self.state.denied)

    def _denied_action(self, service: str, action: str | None, s3: S3Call | None) -> str | None:
        """The denied IAM action a request needs, or None (caller holds the lock).

        S3 API operations are not IAM actions: ListObjectsV2 needs
        ``s3:ListBucket``, HeadObject ``s3:GetObject``, DeleteObject with
        If-Match ``s3:DeleteObject`` and ``s3:GetObject`` (awswire.s3_call)."""
        if s3 is not None:
            for iam in s3.iam_actions:
                if self._is_denied("s3", iam):
                    return iam
            return None
        return action if self._is_denied(service, action) else None

    @staticmethod
    def _for_method(
        environ: dict[str, Any], answer: tuple[str, list[tuple[str, str]], bytes]
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """An answer made here, without its body for a HEAD request (as AWS answers HEAD)."""
        status, headers, data = answer
        if environ.get("REQUEST_METHOD", "").upper() != "HEAD":
            return answer
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", "0")]
        return status, headers, b""

    def _take_fault(self, service: str, action: str | None, dry_run: bool = False) -> dict[str, Any] | None:
        """Count this call against every matching fault; pop the first one due.

        Faults with ``dry_run`` count EC2 dry runs only, the others every
        other call."""
        due = None
        for fault in self.state.faults:
            if fault["action"] != action or bool(fault.get("dry_run")) != dry_run:
                continue
            if fault.get("service") and fault["service"] != service:
                continue
            fault["seen"] += 1
            if due is None and fault["seen"] >= fault["nth"]:
                due = fault
        if due is not None:
            self.state.faults.remove(due)
        return due

    def _call_moto(self, environ: dict[str, Any], service: str) -> tuple[str, list[tuple[str, str]], bytes]:
        """Hand an AWS request to moto. Corrected mode: one at a time, after
        the ECS model's clock has advanced (correction m)."""
        if self.state.pristine:
            return self._call_app(environ)
        with self.state.moto_lock:
            if self.state.ecs is not None and service in TICKING_SERVICES:
                self.state.ecs.advance()
            return self._call_app(environ)

    def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = status
            captured["headers"] = list(headers)
            return chunks.append

        result = self.app(environ, start_response)
        try:
            for chunk in result:
                chunks.append(chunk)
        finally:
            if hasattr(result, "close"):
                result.close()
        data = b"".join(chunks)
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(data))))
        return captured["status"], headers, data

    # -- control endpoints ------------------------------------------------------

    def control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "").rstrip("/")
        try:
            payload = self._json_body(environ)
            status, answer = self.route(method, path, payload)
        except ValueError as err:
            status, answer = 400, {"error": str(err)}
        data = json.dumps(answer).encode("utf-8")
        start_response(
            f"{status} {reason_phrase(status)}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]

    @staticmethod
    def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
        raw = ControlMiddleware._read_body(environ)
        if not raw.strip():
            return {}
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ValueError(f"invalid JSON body: {err}")
        if not isinstance(payload, dict):
            raise ValueError("JSON body must be an object")
        return payload

    def route(self, method: str, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        routes: dict[tuple[str, str], Callable[[], Any]] = {
            ("GET", "/_emulator/calls"): lambda: {"calls": self._calls()},
            ("POST", "/_emulator/calls/clear"): self._clear_calls,
            ("GET", "/_emulator/faults"): lambda: {"faults": self._faults()},
            ("POST", "/_emulator/faults"): lambda: self._add_fault(payload),
            ("POST", "/_emulator/faults/clear"): self._clear_faults,
            ("GET", "/_emulator/hold"): self._hold_status,
            ("POST", "/_emulator/hold"): lambda: self._arm_hold(payload),
            ("POST", "/_emulator/release"): self._release,
            ("GET", "/_emulator/config"): self._config,
            ("POST", "/_emulator/config"): lambda: self._set_config(payload),
            ("GET", "/_emulator/target-health"): self._health_overrides,
            ("POST", "/_emulator/target-health"): lambda: self._set_health_override(payload),
            ("POST", "/_emulator/target-health/clear"): self._clear_health_overrides,
            ("GET", "/_emulator/deny"): self._denied,
            ("POST", "/_emulator/deny"): lambda: self._deny(payload),
            ("POST", "/_emulator/deny/clear"): self._clear_denied,
            ("GET", "/_emulator/ecs-tasks"): lambda: self.state.ecs.fail_modes_json(),
            ("POST", "/_emulator/ecs-tasks"): lambda: self.state.ecs.set_fail_mode(payload),
            ("GET", "/_emulator/ecs-config"): lambda: self.state.ecs.set_timings({}),
            ("POST", "/_emulator/ecs-config"): lambda: self.state.ecs.set_timings(payload),
            ("GET", "/_emulator/nacl-config"): lambda: self.state.dns_nacl.nacl_config({}),
            ("POST", "/_emulator/nacl-config"): lambda: self.state.dns_nacl.nacl_config(payload),
            ("GET", "/_emulator/dns-config"): lambda: self.state.dns_nacl.dns_config({}),
            ("POST", "/_emulator/dns-config"): lambda: self.state.dns_nacl.dns_config(payload),
            ("GET", "/_emulator/s3-config"): lambda: self.state.s3.config({}),
            ("POST", "/_emulator/s3-config"): lambda: self.state.s3.config(payload),
            ("POST", "/_emulator/reset"): self._reset,
        }
        handler = routes.get((method, path))
        if handler is None:
            if any(p == path for _, p in routes):
                return 405, {"error": f"method {method} not allowed on {path}"}
            return 404, {"error": f"unknown control endpoint {path}"}
        if path.startswith("/_emulator/target-health") and self.state.pristine:
            return 409, {"error": "target health overrides need the corrected emulator (not --pristine)"}
        if path.startswith("/_emulator/ecs-") and self.state.ecs is None:
            return 409, {"error": "the ECS model needs the corrected emulator (not --pristine)"}
        if path in ("/_emulator/nacl-config", "/_emulator/dns-config") and self.state.dns_nacl is None:
            return 409, {"error": "correction n needs the corrected emulator (not --pristine)"}
        return 200, handler()

    def _calls(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(c) for c in self.state.calls]

    def _clear_calls(self) -> dict[str, Any]:
        with self.state.lock:
            self.state.calls.clear()
        return {"ok": True}

    def _faults(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(f) for f in self.state.faults]

    def _add_fault(self, payload: dict[str, Any]) -> dict[str, Any]:
        action = payload.get("action")
        if not isinstance(action, str) or not action:
            raise ValueError("fault needs an 'action'")
        code = str(payload.get("code") or "InternalError")
        nth = int(payload.get("nth", 1))
        if nth < 1:
            raise ValueError("'nth' must be >= 1")
        status = int(payload.get("status") or FAULT_STATUS.get(code, 400))
        fault = {
            "action": action,
            "nth": nth,
            "code": code,
            "message": str(payload.get("message") or "injected fault"),
            "status": status,
            "service": payload.get("service"),
            "dry_run": bool(payload.get("dry_run", False)),
            "seen": 0,
        }
        with self.state.lock:
            self.state.faults.append(fault)
            return {"queued": len(self.state.faults)}

    def _clear_faults(self) -> dict[str, Any]:
        with self.state.lock:
            self.state.faults.clear()
        return {"ok": True}

    def _hold_status(self) -> dict[str, Any]:
        with self.state.lock:
            hold = self.state.hold
            if hold is None:
                return {"armed": False, "held": False, "action": None, "mutation": None, "when": None}
            return hold.as_json()

    def _arm_hold(self, payload: dict[str, Any]) -> dict[str, Any]:
        mutation = int(payload.get("mutation", 0))
        when = payload.get("when", "after")
        if mutation < 1:
            raise ValueError("'mutation' must be >= 1")
        if when not in ("after", "before"):
            raise ValueError("'when' must be 'after' or 'before'")
        self.state.release_hold()  # a previous hold is released first
        with self.state.lock:
            self.state.hold = Hold(mutation, when)
            return self.state.hold.as_json()

    def _release(self) -> dict[str, Any]:
        with self.state.lock:
            was_held = bool(self.state.hold and self.state.hold.held)
        self.state.release_hold()
        return {"released": was_held}

    def _config(self) -> dict[str, Any]:
        return {
            "pristine": self.state.pristine,
            "associating_reads": self.state.associating_reads,
            "initial_health_reads": self.state.initial_health_reads,
        }

    def _set_config(self, payload: dict[str, Any]) -> dict[str, Any]:
        values = {}
        for name in ("associating_reads", "initial_health_reads"):
            if name in payload:
                value = int(payload[name])
                if value < 0:
                    raise ValueError(f"'{name}' must be >= 0")
                values[name] = value
        with self.state.lock:
            for name, value in values.items():
                setattr(self.state, name, value)
        return self._config()

    def _health_overrides(self) -> dict[str, Any]:
        with self.state.lock:
            overrides = sorted(self.state.health_overrides.values(), key=lambda o: o["seq"])
            return {"overrides": [{k: v for k, v in o.items() if k != "seq"} for o in overrides]}

    def _set_health_override(self, payload: dict[str, Any]) -> dict[str, Any]:
        group = payload.get("target_group")
        target = payload.get("target")
        state = payload.get("state")
        if not isinstance(group, str) or not group:
            raise ValueError("override needs a 'target_group' (name or ARN)")
        if not isinstance(target, str) or not target:
            raise ValueError("override needs a 'target' (instance id, IP address or '*')")
        if state not in TARGET_HEALTH_STATES:
            raise ValueError(f"'state' must be one of {', '.join(TARGET_HEALTH_STATES)}")
        port = payload.get("port")
        if port is not None:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise ValueError("'port' must be an integer port number")
        if "reason" in payload:
            reason, description = payload["reason"], payload.get("description")
        else:
            reason, description = TARGET_HEALTH_REASONS[state]
            description = payload.get("description", description)
        for name, value in (("reason", reason), ("description", description)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"'{name}' must be a string")
        with self.state.lock:
            self.state.override_seq += 1
            self.state.health_overrides[(group, target, port)] = {
                "target_group": group,
                "target": target,
                "port": port,
                "state": state,
                "reason": reason,
                "description": description,
                "seq": self.state.override_seq,
            }
            count = len(self.state.health_overrides)
        return {"overrides": count, "target_groups": self._target_groups_named(group)}

    @staticmethod
    def _target_groups_named(name_or_arn: str) -> list[str]:
        """ARNs of the existing target groups an override's target_group designates."""
        from moto.elbv2.models import elbv2_backends

        found = []
        for account in list(elbv2_backends.values()):
            for backend in list(account.values()):
                for group in list(backend.target_groups.values()):
                    if name_or_arn in (group.arn, group.name):
                        found.append(group.arn)
        return found

    def _clear_health_overrides(self) -> dict[str, Any]:
        with self.state.lock:
            self.state.health_overrides.clear()
        return {"ok": True}

    def _denied(self) -> dict[str, Any]:
        with self.state.lock:
            return {"actions": list(self.state.denied)}

    def _deny(self, payload: dict[str, Any]) -> dict[str, Any]:
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions:
            raise ValueError("deny needs 'actions': a non-empty list of IAM actions (service:Action)")
        for action in actions:
            if not isinstance(action, str) or not re.fullmatch(r"[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+", action):
                raise ValueError(f"not an IAM action (service:Action): {action!r}")
        with self.state.lock:
            known = {a.lower() for a in self.state.denied}
            for action in actions:
                if action.lower() not in known:
                    known.add(action.lower())
                    self.state.denied.append(action)
        return self._denied()

    def _clear_denied(self) -> dict[str, Any]:
        with self.state.lock:
            self.state.denied.clear()
        return {"ok": True}

    def _reset(self) -> dict[str, Any]:
        from moto.moto_api._internal import moto_api_backend

        self.state.reset()
        with self.state.moto_lock:
            moto_api_backend.reset()  # what POST /moto-api/reset does
            if self.state.ecs is not None:
                self.state.ecs.reset()
            if self.state.dns_nacl is not None:
                self.state.dns_nacl.reset()  # Route 53 changes, quota and pending reads (n)
            self.state.s3.reset()  # the write delay back to 0, correction o's locks
        return {"ok": True}


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------


def build_app(state: EmulatorState) -> ControlMiddleware:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_app = DomainDispatcherApplication(create_backend_app)
    return ControlMiddleware(moto_app, state)


# ECS model timings (correction m, ecs_model.DEFAULT_TIMINGS) and their defaults.
ECS_TIMING_FLAGS = {
    "start_seconds": 0.5,
    "health_seconds": 0.5,
    "fail_seconds": 1.0,
    "stop_seconds": 0.3,
    "eni_linger_seconds": 1.0,
    "retry_seconds": 5.0,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="moto server corrected to AWS's IPv6 behaviour")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--pristine", action="store_true", help="apply no correction")
    parser.add_argument(
        "--associating-reads",
        type=int,
        default=1,
        metavar="N",
        help="describe reads that still show associating/disassociating (default 1)",
    )
    parser.add_argument(
        "--initial-health-reads",
        type=int,
        default=1,
        metavar="N",
        help="DescribeTargetHealth reads that show a new target as initial (default 1)",
    )
    parser.add_argument(
        "--nacl-entry-quota",
        type=int,
        default=20,
        metavar="N",
        help="network ACL entries per direction and IP family, the * deny included (default 20; correction n)",
    )
    parser.add_argument(
        "--change-pending-reads",
        type=int,
        default=1,
        metavar="N",
        help="GetChange reads that still show a Route 53 change PENDING (default 1; correction n)",
    )
    for name, default in ECS_TIMING_FLAGS.items():
        parser.add_argument(
            "--ecs-" + name.replace("_", "-"),
            type=float,
            default=default,
            metavar="SECONDS",
            help=f"ECS model timing {name} (default {default:g}; correction m)",
        )
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    for name in ECS_TIMING_FLAGS:
        if getattr(args, "ecs_" + name) < 0:
            parser.error(f"--ecs-{name.replace('_', '-')} must be >= 0")
    if args.associating_reads < 0:
        parser.error("--associating-reads must be >= 0")
    if args.initial_health_reads < 0:
        parser.error("--initial-health-reads must be >= 0")
    if args.nacl_entry_quota < 1:
        parser.error("--nacl-entry-quota must be >= 1")
    if args.change_pending_reads < 0:
        parser.error("--change-pending-reads must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import MotoRequestHandler

    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.ERROR)

    STATE.pristine = args.pristine
    STATE.default_associating_reads = STATE.associating_reads = args.associating_reads
    STATE.default_initial_health_reads = STATE.initial_health_reads = args.initial_health_reads
    STATE.ecs_timings = {name: getattr(args, "ecs_" + name) for name in ECS_TIMING_FLAGS}
    STATE.nacl_entry_quota = args.nacl_entry_quota
    STATE.change_pending_reads = args.change_pending_reads
    if not args.pristine:
        apply_corrections()
        ec2_actions_without_dry_run()  # load the EC2 model before serving
    import s3_model

    s3_model.install_instrument(STATE.s3)  # both modes: it only sleeps when asked (o)

    server = make_server(
        args.host,
        args.port,
        build_app(STATE),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    server.daemon_threads = True  # held requests must not block shutdown

    # The socket is bound and listening since make_server(): announce it.
    host = args.host if ":" not in args.host else f"[{args.host}]"
    ready = READY_LINE.format(host=host, port=server.server_port)
    return serve_until_signal(server, "emulator", ready, STATE.release_hold)


if __name__ == "__main__":
    sys.exit(main())
