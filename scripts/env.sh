# Sourced by the scripts: puts the tools the build uses first on PATH.
# npm's binaryen (wasm-opt 132) must win over any older Debian wasm-opt: 108 breaks hydration.
# scripts/wasm-release/cargo comes first: it builds the release browser module on nightly and
# passes every other cargo command through.
project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$project_root/scripts/wasm-release:$project_root/end2end/node_modules/.bin:$HOME/.cargo/bin:$HOME/.local/bin:$PATH"
