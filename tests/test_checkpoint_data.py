"""A network file is data from outside: whatever its bytes or its structure, loading it answers
with a network or with one CheckpointError line naming the file, in bounded time and memory."""
from __future__ import annotations

import copy
import io
import pickle
import random
import struct
import tracemalloc

import pytest
import torch

from stylegan3.checkpoints import discriminator_from_record, generator_from_record, load_pickle
from stylegan3.pickle_safe import CheckpointError, EasyDict, PersistentRecord, TorchModuleRecord, safe_load_pickle


def records(golden, name: str) -> dict:
    with open(golden / name, "rb") as f:
        return safe_load_pickle(f, name)


def peak_bytes(fn) -> tuple[int, str]:
    """Peak bytes allocated through Python's allocator while fn failed, and its message."""
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as e:
            fn()
        return tracemalloc.get_traced_memory()[1], str(e.value)
    finally:
        tracemalloc.stop()


@pytest.mark.hostile
def test_a_memo_index_far_beyond_the_file_allocates_nothing(tmp_path):
    # 16 bytes ask to remember an object at index 2**26: an unpickler that sizes its memo by the
    # index takes 512 MB (a 400 kB fuzzed network asking for 1.3e9 took 10 GB and a minute)
    p = tmp_path / "memo.pkl"
    p.write_bytes(b"\x80\x04N" + b"r" + struct.pack("<I", 2 ** 26) + b"h" + struct.pack("<B", 7) + b".")
    peak, msg = peak_bytes(lambda: load_pickle(p))
    assert peak < 32 << 20, f"{peak / 2 ** 20:.0f} MiB for a 16-byte file"
    assert str(p) in msg and "\n" not in msg


@pytest.mark.hostile
@pytest.mark.parametrize("opcode", [pickle.FRAME, pickle.BINBYTES8, pickle.BINUNICODE8, pickle.BYTEARRAY8],
                         ids=["frame", "bytes", "text", "bytearray"])
def test_a_length_beyond_the_file_allocates_nothing(tmp_path, opcode):
    # a length in the file yields at most the bytes that follow it, not an allocation of that size
    p = tmp_path / "long.pkl"
    p.write_bytes(b"\x80\x05" + opcode + struct.pack("<Q", 2 ** 28) + b"abc")
    peak, msg = peak_bytes(lambda: load_pickle(p))
    assert peak < 32 << 20, f"{peak / 2 ** 20:.0f} MiB for a 13-byte file"
    assert msg.startswith(f"{p}: not a valid network pickle") and "\n" not in msg


def odd_values(old):
    odd = [None, 0, -1, 2 ** 40, float("nan"), "", "x" * 300, [], [1, 2], {}, {"a": 1}, (1,), set(), b"\0" * 8,
           EasyDict(x=1), torch.zeros(()), torch.zeros(0), torch.ones(3, dtype=torch.int64),
           PersistentRecord("Generator", {}), PersistentRecord("X", {"_modules": 5}), TorchModuleRecord()]
    if isinstance(old, torch.Tensor) and old.dim():
        odd += [old.to(torch.int32), old.to(torch.bool), old.to(torch.complex64), old.flatten(), old[..., :1],
                old.unsqueeze(0), torch.full_like(old, float("nan"))]
    if isinstance(old, dict):
        odd += [list(old.items()), {**old, "junk": 1}, list(old)]
    return odd


def slots(obj):
    """(container, key) of every place in a record tree."""
    if isinstance(obj, (PersistentRecord, TorchModuleRecord)):
        obj = obj.state
    if isinstance(obj, dict):
        for k in list(obj):
            yield obj, k
            yield from slots(obj[k])
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield obj, i
            yield from slots(v)


def mutants(data, n: int, seed: int):
    rng = random.Random(seed)
    for _ in range(n):
        d = copy.deepcopy(data)
        for _ in range(rng.randint(1, 3)):
            cont, k = rng.choice(list(slots(d)))
            if isinstance(cont, dict) and rng.random() < 0.15:
                del cont[k]
            else:
                cont[k] = rng.choice(odd_values(cont[k]))
        yield d


@pytest.mark.hostile
@pytest.mark.parametrize("name", ["sg2-tiny/network.pkl", "sg3t-tiny/network.pkl", "canvas-t-tiny/network.pkl"])
def test_every_mutated_network_record_is_a_network_or_one_line(golden, name):
    # a group that is not a mapping, a module that is a number, complex or integer weights, an
    # encoder block without its bias: each once escaped as AttributeError, TypeError or KeyError
    loaded = 0
    for i, d in enumerate(mutants(records(golden, name), 40, seed=len(name))):
        rec = d.get("G_ema") if isinstance(d, dict) else None
        if not isinstance(rec, PersistentRecord):
            continue
        try:
            G = generator_from_record(rec, name)
        except CheckpointError as e:
            assert str(e).startswith(name) and "\n" not in str(e), f"mutant {i}: {e}"
            continue
        loaded += 1
        assert all(t.is_floating_point() for t in G.parameters()), f"mutant {i} loaded non-float weights"
    assert loaded > 0                                  # many mutations touch nothing the network needs


@pytest.mark.hostile
def test_every_mutated_discriminator_record_is_one_or_one_line(golden):
    name = "train-sg2-tiny/snapshot.pkl"
    for i, d in enumerate(mutants(records(golden, name)["D"], 40, seed=3)):
        try:
            discriminator_from_record(d, "snap D")
        except CheckpointError as e:
            assert str(e).startswith("snap D") and "\n" not in str(e), f"mutant {i}: {e}"


@pytest.mark.hostile
@pytest.mark.parametrize("dtype", [torch.int32, torch.bool, torch.complex64])
def test_weights_that_are_not_real_numbers_are_refused(golden, dtype):
    rec = records(golden, "sg2-tiny/network.pkl")["G_ema"]
    layer = rec.state["_modules"]["synthesis"].state["_modules"]["b8"].state["_modules"]["conv0"]
    layer.state["_parameters"]["weight"] = layer.state["_parameters"]["weight"].to(dtype)
    with pytest.raises(CheckpointError, match=r"net\.pkl: synthesis\.b8\.conv0\.weight holds .* values; "
                                              r"expected floating-point numbers"):
        generator_from_record(rec, "net.pkl")


@pytest.mark.hostile
def test_weights_of_another_float_precision_load_as_float32(golden):
    rec = records(golden, "sg2-tiny/network.pkl")["G_ema"]
    params = rec.state["_modules"]["mapping"].state["_modules"]["fc0"].state["_parameters"]
    params["weight"] = params["weight"].to(torch.float64)
    G = generator_from_record(rec, "net.pkl")
    assert G.mapping.fc0.weight.dtype == torch.float32


@pytest.mark.hostile
def test_a_pickle_from_a_byte_string_still_loads(golden):
    # not every caller has a real file: a byte string is read as it is
    data = (golden / "sg2-tiny/network.pkl").read_bytes()
    assert isinstance(safe_load_pickle(io.BytesIO(data), "net")["G_ema"], PersistentRecord)
