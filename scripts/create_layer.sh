#!/usr/bin/env bash
# Build the two Lambda layers without SAM, zip them, and optionally publish them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$ROOT/scripts/lib.sh"

usage() {
	cat <<'USAGE'
Usage: scripts/create_layer.sh [--arch x86_64|arm64] [--out DIR] [--publish NAME] [--region R] [--dry-run]

Builds CoreLayer (the package, httpx, orjson, jsonschema, Powertools) and ParquetLayer (a
trimmed pyarrow) with shared/Makefile, as `make layers` and `sam build` do (wheels for Lambda's
platform from PyPI, no Docker), and zips each as Lambda wants it (a python/ folder at the root):

  DIR/CoreLayer/, DIR/ParquetLayer/             the unpacked layers
  DIR/core-layer-ARCH.zip, DIR/parquet-layer-ARCH.zip

With --publish NAME each zip becomes a new version of the layers NAME-core and NAME-parquet
(aws lambda publish-layer-version, or boto3 when the AWS CLI is not installed), compatible
with python3.12 and ARCH; their ARNs are printed. A direct upload takes at most 50 MB zipped;
the stack itself never needs this (sam deploy uploads its layers), it is for sharing the
layers with other functions or for checking their sizes.

Options:
  --arch ARCH       arm64 (default, as the template) or x86_64: which manylinux_2_28 wheels
  --out DIR         where the layers go (default build/layers)
  --publish NAME    publish the zips as NAME-core and NAME-parquet
  --region REGION   region to publish to (default: AWS_REGION / the profile's)
  --dry-run         print the commands, run nothing
  -h, --help        this text
USAGE
}


arch=arm64 # the template's Architectures (shared/Makefile's default too)
out="$ROOT/build/layers"
publish=""
region="${AWS_REGION:-}"
dry_run=0
while [[ $# -gt 0 ]]; do
	case "$1" in
	--arch)
		[[ $# -ge 2 ]] || die "--arch needs a value: x86_64 or arm64"
		arch="$2"
		shift 2
		;;
	--out)
		[[ $# -ge 2 ]] || die "--out needs a folder"
		out="$2"
		shift 2
		;;
	--publish)
		[[ $# -ge 2 ]] || die "--publish needs a layer name"
		publish="$2"
		shift 2
		;;
	--region)
		[[ $# -ge 2 ]] || die "--region needs a value"
		region="$2"
		shift 2
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
case "$arch" in
x86_64 | arm64) ;;
*) die "unknown architecture '$arch': choose x86_64 or arm64" ;;
esac
[[ -z "$publish" || "$publish" =~ ^[A-Za-z0-9_-]+$ ]] || die "--publish takes a layer name (letters, digits, - and _)"
if ((!dry_run)); then
	mkdir -p "$out" || die "cannot create $out"
	out="$(cd "$out" && pwd)"
fi
python="$(project_python)"

run() {
	echo "+ $*"
	((dry_run)) || "$@"
}

for layer in CoreLayer ParquetLayer; do
	run rm -rf "${out:?}/$layer"
	run make -C "$ROOT/shared" "build-$layer" ARTIFACTS_DIR="$out/$layer" ARCH="$arch"
done

declare -A zips=([CoreLayer]="$out/core-layer-$arch.zip" [ParquetLayer]="$out/parquet-layer-$arch.zip")
for layer in CoreLayer ParquetLayer; do
	run rm -f "${zips[$layer]}"
	# python -m zipfile keeps the paths as given: python/... at the zip's root.
	if ((dry_run)); then
		echo "+ (cd $out/$layer && $python -m zipfile -c ${zips[$layer]} python)"
	else
		(cd "$out/$layer" && "$python" -m zipfile -c "${zips[$layer]}" python)
		echo "$(du -h "${zips[$layer]}" | cut -f1) ${zips[$layer]}"
	fi
done

[[ -n "$publish" ]] || exit 0
declare -A names=([CoreLayer]="$publish-core" [ParquetLayer]="$publish-parquet")
for layer in CoreLayer ParquetLayer; do
	if command -v aws >/dev/null 2>&1; then
		run aws lambda publish-layer-version ${region:+--region "$region"} \
			--layer-name "${names[$layer]}" --zip-file "fileb://${zips[$layer]}" \
			--compatible-runtimes python3.12 --compatible-architectures "$arch" \
			--query LayerVersionArn --output text
	else
		run "$python" -c '
import sys, boto3
name, path, arch, region = sys.argv[1:5]
client = boto3.client("lambda", region_name=region or None)
with open(path, "rb") as handle:
    made = client.publish_layer_version(
        LayerName=name, Content={"ZipFile": handle.read()},
        CompatibleRuntimes=["python3.12"], CompatibleArchitectures=[arch])
print(made["LayerVersionArn"])
' "${names[$layer]}" "${zips[$layer]}" "$arch" "$region"
	fi
done
