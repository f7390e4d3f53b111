#!/usr/bin/env bash
# Builds llama.cpp's llama-server and a tiny random-weight llama GGUF model (Llama-2's real
# 32,000-token tokenizer), so benchmarks can run against a real OpenAI-compatible server.
# Everything goes outside the repo, in ${LLAMA_DIR:-$HOME/.cache/metron-llama}; steps already done
# are skipped. Needs PyPI (cmake, ninja, gguf, numpy, the llama-cpp-python sdist) and a C++
# compiler; the first run takes several minutes on 2 cores. Logs go to stderr; stdout is only
#   LLAMA_SERVER=/path/to/llama-server
#   LLAMA_MODEL=/path/to/tiny.gguf
# so `eval "$(bench/llama_server.sh)"` sets both.
set -euo pipefail

DIR=${LLAMA_DIR:-$HOME/.cache/metron-llama}
VERSION=0.3.36   # llama-cpp-python release whose vendored llama.cpp is known to work here
JOBS=${JOBS:-2}
VENV=$DIR/venv
SRC=$DIR/src/llama_cpp_python-$VERSION
LLAMA=$SRC/vendor/llama.cpp
BUILD=$DIR/build
SERVER=$BUILD/bin/llama-server
MODEL=$DIR/tiny.gguf

log() { echo "llama_server.sh: $*" >&2; }
mkdir -p "$DIR"

# 1. Build tools and the gguf writer, from PyPI.
if ! { [ -x "$VENV/bin/cmake" ] && [ -x "$VENV/bin/ninja" ] &&
       "$VENV/bin/python" -c 'import gguf, numpy' 2>/dev/null; }; then
    log "creating venv in $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q cmake ninja gguf numpy >&2
fi
export PATH="$VENV/bin:$PATH"   # cmake must find this ninja

# 2. Sources: llama.cpp ships inside the llama-cpp-python sdist.
if [ ! -f "$LLAMA/CMakeLists.txt" ]; then
    log "fetching llama-cpp-python $VERSION sdist"
    # --no-binary for this package only: ":all:" would build its build deps (cmake) from source too.
    pip download -q --no-deps --no-binary llama-cpp-python -d "$DIR/src" \
        "llama-cpp-python==$VERSION" >&2
    tmp=$(mktemp -d "$DIR/src/unpack.XXXXXX")
    tar xzf "$DIR/src/llama_cpp_python-$VERSION.tar.gz" -C "$tmp"
    rm -rf "$SRC"
    mv "$tmp/llama_cpp_python-$VERSION" "$SRC"
    rmdir "$tmp"
fi
# A submodule pointer to a missing gitdir: left in place, ninja regenerates build.ninja forever.
rm -rf "$LLAMA/.git"

# 3. Only the server, static, no HTTPS, no web UI (the prebuilt UI would be downloaded).
if [ ! -x "$SERVER" ]; then
    if [ ! -f "$BUILD/build.ninja" ]; then
        log "configuring in $BUILD"
        cmake -S "$LLAMA" -B "$BUILD" -G Ninja \
            -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_OPENSSL=OFF \
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
            -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >&2
    fi
    log "building llama-server with -j $JOBS"
    cmake --build "$BUILD" --target llama-server -j "$JOBS" >&2
fi

# 4. Model: 4 layers, width 256, F16 weights from a fixed seed, tokenizer from the vocab-only file.
if [ ! -s "$MODEL" ]; then
    log "writing $MODEL"
    "$VENV/bin/python" - "$LLAMA/models/ggml-vocab-llama-spm.gguf" "$MODEL.tmp" <<'PY'
import sys
import numpy as np
import gguf

vocab_path, out_path = sys.argv[1], sys.argv[2]
n_layer, n_embd, n_head, n_head_kv, n_ff, n_ctx = 4, 256, 4, 4, 512, 32768
head_dim = n_embd // n_head

vocab = gguf.GGUFReader(vocab_path)
n_vocab = len(vocab.fields["tokenizer.ggml.tokens"].data)

w = gguf.GGUFWriter(out_path, "llama")
w.add_name("metron-tiny-random")
w.add_context_length(n_ctx)
w.add_embedding_length(n_embd)
w.add_block_count(n_layer)
w.add_feed_forward_length(n_ff)
w.add_head_count(n_head)
w.add_head_count_kv(n_head_kv)
w.add_rope_dimension_count(head_dim)
w.add_layer_norm_rms_eps(1e-5)
w.add_vocab_size(n_vocab)
w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
for name, field in vocab.fields.items():
    if name.startswith("tokenizer.ggml."):
        vtype = gguf.GGUFValueType(field.types[0])
        sub = gguf.GGUFValueType(field.types[-1]) if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(name, field.contents(), vtype, sub)

rng = np.random.default_rng(0)
def mat(rows, cols):  # numpy (out, in) order; small std keeps activations tame
    return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)
ones = lambda: np.ones(n_embd, dtype=np.float32)

w.add_tensor("token_embd.weight", mat(n_vocab, n_embd))
for i in range(n_layer):
    p = f"blk.{i}."
    w.add_tensor(p + "attn_norm.weight", ones())
    w.add_tensor(p + "attn_q.weight", mat(n_head * head_dim, n_embd))
    w.add_tensor(p + "attn_k.weight", mat(n_head_kv * head_dim, n_embd))
    w.add_tensor(p + "attn_v.weight", mat(n_head_kv * head_dim, n_embd))
    w.add_tensor(p + "attn_output.weight", mat(n_embd, n_head * head_dim))
    w.add_tensor(p + "ffn_norm.weight", ones())
    w.add_tensor(p + "ffn_gate.weight", mat(n_ff, n_embd))
    w.add_tensor(p + "ffn_up.weight", mat(n_ff, n_embd))
    w.add_tensor(p + "ffn_down.weight", mat(n_embd, n_ff))
w.add_tensor("output_norm.weight", ones())
w.add_tensor("output.weight", mat(n_vocab, n_embd))

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
PY
    mv "$MODEL.tmp" "$MODEL"
fi

echo "LLAMA_SERVER=$SERVER"
echo "LLAMA_MODEL=$MODEL"
