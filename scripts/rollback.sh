#!/usr/bin/env bash
# Bring an environment's stack back to a good state after a failed or bad deploy.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$ROOT/scripts/lib.sh"

usage() {
	cat <<'USAGE'
Usage: scripts/rollback.sh --environment dev|staging|production [--to-version N] [--list] [--dry-run]

What it does depends on the stack's state (samconfig.toml names the stack and its region):

  UPDATE_ROLLBACK_FAILED    CloudFormation could not undo a failed update: continue the
                            rollback (continue-update-rollback) and wait for it
  UPDATE_ROLLBACK_COMPLETE  the failed update was undone already; nothing to do unless
                            --to-version N asks for an older snapshot
  CREATE_COMPLETE /         the last deploy went through but is bad (e.g. its smoke check
  UPDATE_COMPLETE           failed): re-deploy the newest snapshot (or snapshot N) with
                            sam deploy --config-env <env> --template-file <snapshot> and the
                            snapshot's parameters
  *_IN_PROGRESS, others     refused, with what to do

Snapshots: scripts/deploy_lambda.sh (and --deploy-lambda) save the deployed template (as
CloudFormation keeps it: the packaged SAM template, whose code stays in the SAM artifacts
bucket) and the stack's parameters in .aws-sam/rollback/<env>/<n>/ before each deploy. They
live where the deploy ran: a CI job rolls back in the same job; keep the folder (or a CI
artifact of it) to roll back later from elsewhere.

Options:
  -e, --environment ENV   dev, staging or production (required)
  --to-version N          re-deploy snapshot N (see --list) instead of the newest
  --list                  list the environment's snapshots and exit
  --dry-run               print what would be done (reads the stack's state; changes nothing)
  -h, --help              this text
USAGE
}


environment=""
version=""
list=0
dry_run=0
while [[ $# -gt 0 ]]; do
	case "$1" in
	-e | --environment)
		[[ $# -ge 2 ]] || die "--environment needs a value: dev, staging or production"
		environment="$2"
		shift 2
		;;
	--environment=*)
		environment="${1#*=}"
		shift
		;;
	--to-version)
		[[ $# -ge 2 ]] || die "--to-version needs a snapshot number (see --list)"
		version="$2"
		shift 2
		;;
	--list)
		list=1
		shift
		;;
	--dry-run)
		dry_run=1
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
require_environment "$environment"
[[ -z "$version" || "$version" =~ ^[0-9]+$ ]] || die "--to-version takes a snapshot number, not '$version'"

python="$(project_python)"
export PYTHONPATH="$ROOT/shared${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT"

if ((list)); then
	exec "$python" -m vanta_vuln_stats.cloud.deploy snapshots --environment "$environment"
fi
args=(rollback --environment "$environment")
[[ -n "$version" ]] && args+=(--to-version "$version")
((dry_run)) && args+=(--dry-run)
exec "$python" -m vanta_vuln_stats.cloud.deploy "${args[@]}"
