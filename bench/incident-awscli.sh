#!/usr/bin/env bash
# The incident's dual-stack cutover (runbooks/incident-cutover.yaml) written by
# hand, the way a careful SRE would write it with the AWS CLI: the baseline
# that bench/bench.py measures `dualstack apply` against.
#
# Usage: incident-awscli.sh ENDPOINT_URL SITE_URL
#   ENDPOINT_URL  where every `aws` call goes (the bench points it at the fault
#                 proxy in front of the emulator)
#   SITE_URL      the runbook's `site-v6` check (http://[::1]:PORT/ping)
# Environment:
#   AWS           the aws CLI to run (default: `aws` on PATH; the bench passes
#                 bench/.venv/bin/aws, pinned in bench/requirements.txt)
#   POLL_SECONDS  sleep between two polls of a wait (default 1: what a person
#                 writes; the tool's own waiter starts at 200 ms)
#   GATE_INTERVAL sleep between two gate rounds (default 0.2: the bench's gates,
#                 `interval: 200ms, healthy_threshold: 1, unhealthy_threshold: 2`)
#
# What it does, in the order AWS requires, with the waits AWS needs:
#   1. associate an Amazon-provided IPv6 /56 with VPC `redash`; poll
#      describe-vpcs until `associated`;
#   2. associate /64 number 1, 2, 3 of it with public-1a, -1c, -1d; poll
#      describe-subnets until all three are `associated`;
#   3. per subnet, AssignIpv6AddressOnCreation then
#      EnableResourceNameDnsAAAARecordOnLaunch (AWS takes one attribute per
#      call; DNS64 stays off: no NAT64 here, that was the incident);
#   4. ::/0 to the internet gateway in route table `public`;
#   5. the ::/0 twin of every 0.0.0.0/0 rule (ingress and egress) of
#      redash-alb and redash-app;
#   6. one IPv6 address on the interface of each target of redash-blue and
#      redash-green;
#   7. ALB `redash` to dualstack, then a gate (the site over IPv6);
#   8. for redash-green then redash-blue: create `<name>-v6` (a copy: protocol,
#      port, VPC, target type, health check; IP address type ipv6), register
#      the backend's new IPv6 address on the same port, wait until healthy, add
#      it at weight 0 to the listener's default action and to every rule that
#      forwards to the old group, then move 10 %, 50 %, 100 % of the old
#      group's weight to it (the old group leaves the action at 100 %; a stage
#      that changes no weight is skipped), each stage followed by a gate: the
#      site over IPv6 and the new group's target health.
# It stops at the first error (set -e) and does not roll anything back: that
# is the part people do by hand, and the tool does not.
set -euo pipefail

ENDPOINT=${1:?usage: incident-awscli.sh ENDPOINT_URL SITE_URL}
SITE=${2:?usage: incident-awscli.sh ENDPOINT_URL SITE_URL}
AWS=${AWS:-aws}
POLL=${POLL_SECONDS:-1}
GATE_INTERVAL=${GATE_INTERVAL:-0.2}
REGION=ap-northeast-1
NAME=redash
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""

# Every call as text, for --query results; mutations' answers are discarded
# unless queried.
aws_() { "$AWS" --endpoint-url "$ENDPOINT" --region "$REGION" --output text "$@"; }
aws_json() { "$AWS" --endpoint-url "$ENDPOINT" --region "$REGION" --output json "$@" > /dev/null; }
log() { printf '%s %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }

# Poll "$@" (a command printing a state) until it prints $want; give up after 5 min.
wait_for() {
    local want=$1 what=$2 got
    shift 2
    local deadline=$((SECONDS + 300))
    while :; do
        got=$("$@")
        [ "$got" = "$want" ] && return 0
        if [ $SECONDS -ge $deadline ]; then
            log "gave up waiting for $what: $got"
            exit 1
        fi
        sleep "$POLL"
    done
}

# /64 number $2 inside the /56 $1 (e.g. 2400:6500:680d:ee00::/56 3 -> 2400:6500:680d:ee03::/64).
subnet64() {
    local addr=${1%/*} h
    IFS=: read -ra h <<< "${addr%%::*}"
    while [ ${#h[@]} -lt 4 ]; do h+=(0); done
    printf '%x:%x:%x:%x::/64\n' $((16#${h[0]})) $((16#${h[1]})) $((16#${h[2]})) $(( (16#${h[3]} & 0xff00) | $2 ))
}

# A health gate: rounds every GATE_INTERVAL; passes after one passing round,
# fails after two failing rounds in a row. $1: target group ARN or "" (site only).
gate() {
    local tg=$1 fails=0 ok states
    while :; do
        ok=1
        curl -g -6 -fsS -o /dev/null --max-time 2 "$SITE" || ok=0
        if [ -n "$tg" ]; then
            states=$(aws_ elbv2 describe-target-health --target-group-arn "$tg" \
                --query 'TargetHealthDescriptions[].TargetHealth.State' | tr '\t' '\n' | sort -u)
            [ "$states" = healthy ] || ok=0
        fi
        if [ $ok = 1 ]; then return 0; fi
        fails=$((fails + 1))
        if [ $fails -ge 2 ]; then
            log "GATE FAILED (site $SITE${tg:+, target health $states}): stopping; roll back by hand"
            exit 3
        fi
        sleep "$GATE_INTERVAL"
    done
}

# --- 1. the VPC's IPv6 block ------------------------------------------------
VPC=$(aws_ ec2 describe-vpcs --filters "Name=tag:Name,Values=$NAME" --query 'Vpcs[0].VpcId')
log "vpc $VPC: associating an Amazon-provided /56"
VPC_ASSOC=$(aws_ ec2 associate-vpc-cidr-block --vpc-id "$VPC" --amazon-provided-ipv6-cidr-block \
    --query 'Ipv6CidrBlockAssociation.AssociationId')
vpc_block_state() {
    aws_ ec2 describe-vpcs --vpc-ids "$VPC" \
        --query "Vpcs[0].Ipv6CidrBlockAssociationSet[?AssociationId=='$VPC_ASSOC'].Ipv6CidrBlockState.State | [0]"
}
wait_for associated "the VPC block" vpc_block_state
VPC_BLOCK=$(aws_ ec2 describe-vpcs --vpc-ids "$VPC" \
    --query "Vpcs[0].Ipv6CidrBlockAssociationSet[?AssociationId=='$VPC_ASSOC'].Ipv6CidrBlock | [0]")
log "vpc block $VPC_BLOCK associated"

# --- 2. a /64 per subnet, all waited before any flag --------------------------
declare -A SUBNET
while read -r name id; do SUBNET[$name]=$id; done < <(
    aws_ ec2 describe-subnets --filters "Name=vpc-id,Values=$VPC" \
        --query 'Subnets[].[Tags[?Key==`Name`].Value | [0], SubnetId]')
index=0
SUBNETS=()
for name in public-1a public-1c public-1d; do
    index=$((index + 1))
    id=${SUBNET[$name]:?subnet $name not found}
    SUBNETS+=("$id")
    cidr=$(subnet64 "$VPC_BLOCK" $index)
    log "subnet $name ($id): associating $cidr"
    aws_json ec2 associate-subnet-cidr-block --subnet-id "$id" --ipv6-cidr-block "$cidr"
done
subnet_block_states() {
    aws_ ec2 describe-subnets --subnet-ids "${SUBNETS[@]}" \
        --query 'Subnets[].Ipv6CidrBlockAssociationSet[].Ipv6CidrBlockState.State' | tr '\t' '\n' | sort | uniq -c | xargs
}
wait_for "${#SUBNETS[@]} associated" "the subnet blocks" subnet_block_states

# --- 3. subnet flags, one attribute per call ---------------------------------
for id in "${SUBNETS[@]}"; do
    log "subnet $id: assign IPv6 on creation, AAAA records on launch"
    aws_json ec2 modify-subnet-attribute --subnet-id "$id" --assign-ipv6-address-on-creation
    aws_json ec2 modify-subnet-attribute --subnet-id "$id" --enable-resource-name-dns-aaaa-record-on-launch
done

# --- 4. ::/0 to the internet gateway ------------------------------------------
RTB=$(aws_ ec2 describe-route-tables --filters "Name=vpc-id,Values=$VPC" "Name=tag:Name,Values=public" \
    --query 'RouteTables[0].RouteTableId')
IGW=$(aws_ ec2 describe-internet-gateways --filters "Name=attachment.vpc-id,Values=$VPC" \
    --query 'InternetGateways[0].InternetGatewayId')
log "route table $RTB: ::/0 -> $IGW"
aws_json ec2 create-route --route-table-id "$RTB" --destination-ipv6-cidr-block ::/0 --gateway-id "$IGW"

# --- 5. IPv6 twins of the open IPv4 rules -------------------------------------
for group in redash-alb redash-app; do
    SG=$(aws_ ec2 describe-security-groups --filters "Name=vpc-id,Values=$VPC" "Name=group-name,Values=$group" \
        --query 'SecurityGroups[0].GroupId')
    for direction in ingress egress; do
        field=IpPermissions
        [ $direction = egress ] && field=IpPermissionsEgress
        while read -r proto from to; do
            [ -n "$proto" ] || continue
            if [ "$from" = None ]; then
                perm="IpProtocol=$proto,Ipv6Ranges=[{CidrIpv6=::/0}]"
            else
                perm="IpProtocol=$proto,FromPort=$from,ToPort=$to,Ipv6Ranges=[{CidrIpv6=::/0}]"
            fi
            log "security group $group ($SG): $direction $proto ${from}-${to} ::/0"
            aws_json ec2 authorize-security-group-$direction --group-id "$SG" --ip-permissions "$perm"
        done < <(aws_ ec2 describe-security-groups --group-ids "$SG" \
            --query "SecurityGroups[0].$field[?IpRanges[?CidrIp=='0.0.0.0/0']].[IpProtocol, FromPort, ToPort]")
    done
done

# --- 6. an IPv6 address for each backend ---------------------------------------
declare -A OLD_TG PORT V6
for color in green blue; do
    OLD_TG[$color]=$(aws_ elbv2 describe-target-groups --names "$NAME-$color" --query 'TargetGroups[0].TargetGroupArn')
    read -r ip port < <(aws_ elbv2 describe-target-health --target-group-arn "${OLD_TG[$color]}" \
        --query 'TargetHealthDescriptions[0].Target.[Id, Port]')
    PORT[$color]=$port
    ENI=$(aws_ ec2 describe-network-interfaces \
        --filters "Name=vpc-id,Values=$VPC" "Name=addresses.private-ip-address,Values=$ip" \
        --query 'NetworkInterfaces[0].NetworkInterfaceId')
    V6[$color]=$(aws_ ec2 assign-ipv6-addresses --network-interface-id "$ENI" --ipv6-address-count 1 \
        --query 'AssignedIpv6Addresses[0]')
    log "$NAME-$color target $ip: interface $ENI got ${V6[$color]}"
done

# --- 7. the load balancer to dualstack, then the site over IPv6 ---------------
LB=$(aws_ elbv2 describe-load-balancers --names "$NAME" --query 'LoadBalancers[0].LoadBalancerArn')
log "load balancer $NAME: dualstack"
aws_json elbv2 set-ip-address-type --load-balancer-arn "$LB" --ip-address-type dualstack
gate ""

# --- 8. blue/green target groups as IPv6, one side at a time -----------------
LISTENER=$(aws_ elbv2 describe-listeners --load-balancer-arn "$LB" --query 'Listeners[?Port==`80`].ListenerArn | [0]')

# The forward weights of the listener's default action ($1 = listener) or of a
# rule ($1 = rule ARN, $2 = rule) as "arn weight" lines.
weights() {
    if [ "${2:-}" = rule ]; then
        aws_ elbv2 describe-rules --rule-arns "$1" --query 'Rules[0].Actions[0].ForwardConfig.TargetGroups[].[TargetGroupArn, Weight]'
    else
        aws_ elbv2 describe-listeners --listener-arns "$1" --query 'Listeners[0].DefaultActions[0].ForwardConfig.TargetGroups[].[TargetGroupArn, Weight]'
    fi | tr '\t' ' '
}
# Write the forward action "arn weight" lines (stdin) to the listener or rule.
set_forward() {
    local arn=$1 kind=$2 groups="" a w
    while read -r a w; do
        [ -n "$a" ] || continue
        groups+="${groups:+,}{\"TargetGroupArn\":\"$a\",\"Weight\":$w}"
    done
    local action="[{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[$groups]}}]"
    if [ "$kind" = rule ]; then
        aws_json elbv2 modify-rule --rule-arn "$arn" --actions "$action"
    else
        aws_json elbv2 modify-listener --listener-arn "$arn" --default-actions "$action"
    fi
}

for color in green blue; do
    old=${OLD_TG[$color]}
    new_name="$NAME-$color-v6"
    read -r proto port vpc hc_proto hc_port hc_path hc_interval hc_timeout healthy unhealthy matcher < <(
        aws_ elbv2 describe-target-groups --target-group-arns "$old" --query 'TargetGroups[0].[Protocol, Port, VpcId,
            HealthCheckProtocol, HealthCheckPort, HealthCheckPath, HealthCheckIntervalSeconds,
            HealthCheckTimeoutSeconds, HealthyThresholdCount, UnhealthyThresholdCount, Matcher.HttpCode]')
    log "$new_name: creating (copy of $NAME-$color, ipv6)"
    new=$(aws_ elbv2 create-target-group --name "$new_name" --protocol "$proto" --port "$port" --vpc-id "$vpc" \
        --target-type ip --ip-address-type ipv6 \
        --health-check-protocol "$hc_proto" --health-check-port "$hc_port" --health-check-path "$hc_path" \
        --health-check-interval-seconds "$hc_interval" --health-check-timeout-seconds "$hc_timeout" \
        --healthy-threshold-count "$healthy" --unhealthy-threshold-count "$unhealthy" \
        --matcher "HttpCode=$matcher" --query 'TargetGroups[0].TargetGroupArn')
    aws_json elbv2 register-targets --target-group-arn "$new" --targets "Id=${V6[$color]},Port=${PORT[$color]}"
    new_health() {
        aws_ elbv2 describe-target-health --target-group-arn "$new" \
            --query 'TargetHealthDescriptions[].TargetHealth.State' | tr '\t' '\n' | sort -u | xargs
    }
    wait_for healthy "$new_name to be healthy" new_health

    # Every forward that uses the old group: the default action and the rules.
    targets=("$LISTENER listener")
    while read -r rule; do
        [ -n "$rule" ] && [ "$rule" != None ] && targets+=("$rule rule")
    done < <(aws_ elbv2 describe-rules --listener-arn "$LISTENER" \
        --query "Rules[?IsDefault==\`false\` && Actions[0].ForwardConfig.TargetGroups[?TargetGroupArn=='$old']].RuleArn" | tr '\t' '\n')

    # Attach at weight 0, remembering the old group's weight in each.
    declare -A ORIGINAL=()
    for t in "${targets[@]}"; do
        read -r arn kind <<< "$t"
        current=$(weights "$arn" "$kind")
        ORIGINAL[$arn]=$(awk -v old="$old" '$1 == old { print $2 }' <<< "$current")
        log "$new_name: attached at weight 0 to $kind ${arn##*/}"
        { printf '%s\n' "$current"; printf '%s 0\n' "$new"; } | set_forward "$arn" "$kind"
    done

    for pct in 10 50 100; do
        for t in "${targets[@]}"; do
            read -r arn kind <<< "$t"
            current=$(weights "$arn" "$kind")
            w=${ORIGINAL[$arn]}
            moved=$((w * pct / 100))
            desired=$(awk -v old="$old" -v new="$new" -v keep=$((w - moved)) -v moved=$moved -v pct=$pct '
                $1 == old { if (pct < 100) print old, keep; next }
                $1 == new { print new, moved; next }
                { print }' <<< "$current")
            if [ "$desired" = "$current" ]; then continue; fi
            log "$new_name: stage $pct% on $kind ${arn##*/}: $NAME-$color=$((w - moved)) $new_name=$moved"
            set_forward "$arn" "$kind" <<< "$desired"
        done
        gate "$new"
    done
done
log "done"
