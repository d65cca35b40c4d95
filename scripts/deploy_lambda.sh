#!/usr/bin/env bash
# Deploy the stack of template.yaml to one environment of samconfig.toml, check it, and roll it
# back when the check fails. `make deploy ENV=...` runs this.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$ROOT/scripts/lib.sh"

usage() {
	cat <<'USAGE'
Usage: scripts/deploy_lambda.sh --environment dev|staging|production [--no-smoke] [--dry-run]

Deploys the stack of template.yaml to the environment's stack in samconfig.toml
(vanta-vuln-stats-<env>, its region, parameter overrides and tags):

  1. snapshot   the template and parameters deployed now go to .aws-sam/rollback/<env>/<n>/
                (CloudFormation keeps no history of templates; scripts/rollback.sh needs it)
  2. build      sam build --config-env <env>  (the SAM CLI of .venv-sam, else sam on the PATH)
  3. deploy     sam deploy --config-env <env> --no-fail-on-empty-changeset
                (--no-confirm-changeset without a terminal or with CI set: in CI the GitHub
                environment's required reviewers are the confirmation)
  4. smoke      the stack is CREATE_COMPLETE/UPDATE_COMPLETE, its outputs are there
                (DataBucketName, StateMachineArn, QueryApiUrl, ...), the state machine and the
                bucket answer, and the query API refuses a call without its key (403)
  5. rollback   when the smoke check fails: scripts/rollback.sh --environment <env>, which
                re-deploys the snapshot of step 1; the script then exits 1

Options:
  -e, --environment ENV   dev, staging or production (required)
  --no-smoke              skip steps 4 and 5
  --dry-run               print the commands, change nothing (no AWS call)
  -h, --help              this text

Environment: AWS credentials as for the AWS CLI (AWS_PROFILE, or the OIDC role in CI);
PROJECT_PYTHON, the Python with this package's dependencies (default .venv/bin/python).
USAGE
}


environment=""
smoke=1
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
	--no-smoke)
		smoke=0
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

python="$(project_python)"
export PYTHONPATH="$ROOT/shared${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT"

args=(deploy --environment "$environment")
((smoke)) || args+=(--no-smoke)
((dry_run)) && args+=(--dry-run)

status=0
"$python" -m vanta_vuln_stats.cloud.deploy "${args[@]}" || status=$?
if ((dry_run)); then
	((smoke)) && echo "on a failed smoke check: scripts/rollback.sh --environment $environment"
	exit "$status"
fi
if ((status == 3)); then
	echo "Smoke check failed: rolling $environment back." >&2
	"$ROOT/scripts/rollback.sh" --environment "$environment" ||
		echo "Rollback failed too: see scripts/rollback.sh --help and docs/LAMBDA_DEPLOYMENT.md." >&2
	exit 1
fi
exit "$status"
