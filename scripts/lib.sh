# shellcheck shell=bash
# What the scripts in this folder share (sourced, never run): their error exit, the environments
# samconfig.toml defines, and the project's Python.

ENVIRONMENTS="dev staging production"

# die MESSAGE: the message on stderr, prefixed with the script's name, and exit 2 (a usage error).
die() {
	echo "$(basename "$0"): $*" >&2
	exit 2
}

# require_environment NAME: return if NAME is one of ENVIRONMENTS, die otherwise.
require_environment() {
	[[ -n "$1" ]] || die "give --environment dev, staging or production (see --help)"
	case " $ENVIRONMENTS " in
	*" $1 "*) ;;
	*) die "unknown environment '$1': choose dev, staging or production" ;;
	esac
}

# project_python: PROJECT_PYTHON, else the project's .venv, else python3 on the PATH; dies when
# there is none. ROOT is the project's folder.
project_python() {
	if [[ -n "${PROJECT_PYTHON:-}" ]]; then
		echo "$PROJECT_PYTHON"
	elif [[ -x "$ROOT/.venv/bin/python" ]]; then
		echo "$ROOT/.venv/bin/python"
	else
		command -v python3 || die "no python3: run make venv first"
	fi
}
