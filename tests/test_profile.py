"""Efficiency profile: exact memory count, size encodings, the `info` command's output."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from torch import nn

from pruning_lightning.formats.artifact import PrunedArtifact, write_artifact
from pruning_lightning.main import main
from pruning_lightning.models import build_arch
from pruning_lightning.pruning.base import prune
from pruning_lightning.pruning.slimming import SlimmingPruner
from pruning_lightning.utils.flops import count_complexity
from pruning_lightning.utils.memory import (
    decode_bitmask,
    encode_bitmask,
    peak_activation_bytes,
    peak_memory_mb,
    saved_bytes,
    sparse_state_dict,
    weight_bytes,
)
from pruning_lightning.utils.profile import efficiency_profile
from pruning_lightning.utils.table import human
from tests.helpers import TINY_VGG

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
F32 = 4


def _tiny(inplace: bool) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.ReLU(inplace=inplace), nn.Flatten(), nn.Linear(4 * 8 * 8, 5)
    )


def test_peak_memory_matches_hand_count() -> None:
    # Batch 2 of 3x8x8. The input stays alive throughout; during the ReLU the conv output and the
    # ReLU output are both alive; Flatten is a view (no new bytes); the Linear output is 2x5.
    x, conv, relu, lin = 2 * 3 * 64 * F32, 2 * 4 * 64 * F32, 2 * 4 * 64 * F32, 2 * 5 * F32
    assert peak_activation_bytes(_tiny(False), (3, 8, 8), 2) == x + conv + relu == 5632
    # In place, the ReLU writes into the conv output: the peak moves to the Linear (x + conv + out).
    assert peak_activation_bytes(_tiny(True), (3, 8, 8), 2) == x + conv + lin == 3624
    weights = (4 * 3 * 3 * 3 + 5 * 256 + 5) * F32
    assert weight_bytes(_tiny(False)) == weights
    assert peak_memory_mb(_tiny(False), (3, 8, 8), 2) == pytest.approx((5632 + weights) / 1e6)


def test_peak_memory_scales_with_batch_and_restores_mode() -> None:
    net = _tiny(False).train()
    one, many = (peak_activation_bytes(net, (3, 8, 8), b) for b in (1, 64))
    assert many == 64 * one
    assert net.training


def test_bitmask_round_trip_and_size() -> None:
    t = torch.randn(5, 7, 3)
    t[t.abs() < 1.0] = 0
    enc = encode_bitmask(t)
    assert enc["bitmask"].dtype == torch.uint8 and enc["bitmask"].numel() == (t.numel() + 7) // 8
    assert enc["values"].numel() == int(torch.count_nonzero(t))
    assert torch.equal(decode_bitmask(enc), t)


def test_sparse_encoding_shrinks_a_masked_net() -> None:
    net = build_arch(TINY_VGG, 10)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(torch.rand_like(m.weight) < 0.1)  # keep about 10 %
    dense, sparse = saved_bytes(net.state_dict()), saved_bytes(sparse_state_dict(net))
    assert sparse < 0.35 * dense
    raw = sum(t.numel() * t.element_size() for t in net.state_dict().values())
    assert raw <= dense < raw + 200_000  # torch.save: raw bytes plus a small zip/pickle overhead
    enc = sparse_state_dict(net)
    name = next(n for n, v in enc.items() if isinstance(v, dict))
    assert torch.equal(decode_bitmask(enc[name]), net.state_dict()[name])


def test_profile_of_tiny_vgg() -> None:
    net = build_arch(TINY_VGG, 10)
    prof = efficiency_profile(net, (3, 32, 32), runs=2, warmup=1)
    c = count_complexity(net, (3, 32, 32))
    assert (prof.params, prof.flops, prof.macs) == (c.params, c.flops, c.macs)
    assert prof.size_mb == pytest.approx(saved_bytes(net.state_dict()) / 1e6)
    assert prof.sparse_size_mb is None
    assert prof.peak_mem_mb[64] > prof.peak_mem_mb[1] > weight_bytes(net) / 1e6
    assert prof.latency_cpu_ms is not None and prof.latency_cpu_ms > 0
    d = prof.as_dict()
    assert {"peak_mem_mb_bs1", "peak_mem_mb_bs64", "latency_cpu_ms", "energy_j_per_image"} <= set(d)
    if not torch.cuda.is_available():
        assert prof.energy_j_per_image == "n/a" and prof.latency_gpu_ms is None and not prof.peak_mem_gpu_mb
    assert efficiency_profile(net, (3, 32, 32), latency=False).latency_cpu_ms is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_profile_on_gpu() -> None:
    net = build_arch(TINY_VGG, 10)
    prof = efficiency_profile(net, (3, 32, 32), runs=3)
    # The allocator rounds up and cuDNN may add workspace, but never holds less than the tensors.
    for b in (1, 64):
        assert prof.peak_mem_gpu_mb[b] >= 0.9 * prof.peak_mem_mb[b]
    assert prof.latency_gpu_ms is not None and prof.latency_gpu_ms > 0
    assert isinstance(prof.energy_j_per_image, float) or prof.energy_note


def test_info_prints_vgg19_profile(capsys: pytest.CaptureFixture[str]) -> None:
    c10, vgg19 = str(CONFIGS / "data/cifar10.yaml"), str(CONFIGS / "arch/cifar/vgg19.yaml")
    main(["info", "-c", c10, "-c", vgg19, "--runs", "1"])
    out = capsys.readouterr().out
    assert "20,035,018" in out  # PAPER: VGG-19 on CIFAR-10, 20.04M parameters
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in out.splitlines()[2:]}
    size = float(rows["size on disk (torch.save state_dict)"].split()[0])
    assert 80.1 < size < 80.4  # 20.04M float32 params + BN buffers
    bs1 = float(rows["peak inference memory, batch 1 (weights + activations)"].split()[0])
    bs64 = float(rows["peak inference memory, batch 64 (weights + activations)"].split()[0])
    # Largest moment: input + two 64x32x32 float maps (a conv's input and output).
    assert bs64 - bs1 == pytest.approx(63 * (3 * 32 * 32 + 2 * 64 * 32 * 32) * F32 / 1e6, abs=1.5e-3)
    assert float(rows["latency CPU, batch 1 (median of 1, 1 threads)"].split()[0]) > 0
    if not torch.cuda.is_available():
        assert rows["energy per image (GPU, NVML)"].startswith("n/a")


def test_info_pruned_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = build_arch(TINY_VGG, 10)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.0, 1.0)
    art = prune(net, TINY_VGG, SlimmingPruner(0.5), base_epochs=10)
    write_artifact(art, tmp_path / "slim")
    main(["info", "--artifact", str(tmp_path / "slim"), "--no-latency"])
    out = capsys.readouterr().out
    pruned = count_complexity(build_arch(art.arch, 10), (3, 32, 32))
    assert f"{pruned.params:,}" in out and f"{pruned.flops:,}" in out
    assert "peak inference memory, batch 64" in out and "latency" not in out and "bitmask" not in out
    assert out.startswith("PRUNED network (slimming, ratio 0.5) of the reference vgg-11")  # marked, with its ratio
    share = art.stats["flops_after"] / art.stats["flops_before"]
    assert f"FLOPs: {human(art.stats['flops_after'])} of {human(art.stats['flops_before'])} = {share:.1%}" in out


def test_info_masked_artifact_reports_sparse_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = build_arch(TINY_VGG, 10)
    state = net.state_dict()
    masks = {}
    for name, m in net.named_modules():
        if isinstance(m, nn.Conv2d):
            masks[f"mask:{name}.weight"] = torch.rand_like(m.weight) < 0.1
            state[f"{name}.weight"] = m.weight.detach() * masks[f"mask:{name}.weight"]
    art = PrunedArtifact(TINY_VGG, TINY_VGG, "hand", 10, structure=masks, weights=state, stats={"scratch_b_epochs": 1})
    write_artifact(art, tmp_path / "masked")
    main(["info", "--artifact", str(tmp_path / "masked"), "--no-latency"])
    out = capsys.readouterr().out
    assert out.startswith("PRUNED network (hand")
    table = [r for r in out.splitlines() if r.startswith("|")][2:]
    rows = {r.split("|")[1].strip(): r.split("|")[2].strip() for r in table}
    dense = float(rows["size on disk (torch.save state_dict)"].split()[0])
    sparse = float(rows["size on disk (bitmask + non-zero values)"].split()[0])
    assert sparse < 0.5 * dense
    assert rows["MACs (non-zero weights)"]
    buf = io.BytesIO()
    torch.save(state, buf)
    assert dense == pytest.approx(buf.getbuffer().nbytes / 1e6, abs=1e-3)


def test_info_bad_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        c10, vgg19 = str(CONFIGS / "data/cifar10.yaml"), str(CONFIGS / "arch/cifar/vgg19.yaml")
        main(["info", "-c", c10, "-c", vgg19, "--runs", "0"])
    assert e.value.code == 2 and "--runs" in capsys.readouterr().err


def test_info_counts_an_imagenet_arch_without_its_data(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 23 §4: an ImageNet arch needs no ImageNet folder (nor a data config) to count its parameters."""
    imagenet, r50 = str(CONFIGS / "data/imagenet.yaml"), str(CONFIGS / "arch/imagenet/resnet50.yaml")
    assert not Path("data/imagenet/train").exists()  # the point of the test: no ImageNet on disk
    # The arch config alone: the family's usual dataset's class count (ImageNet-1k), said in the table.
    main(["info", "-c", r50, "--no_latency"])
    out = capsys.readouterr().out
    assert "25,557,032" in out and "1000 classes (the usual count of resnet_imagenet" in out  # torchvision's R-50
    main(["info", "-c", r50, "--num_classes", "10", "--no_latency"])
    out = capsys.readouterr().out
    assert "(default), 10 classes" in out and "usual count" not in out  # an explicit count wins, and no note
    # An ImageNet data config whose folder is absent cannot count: one error line, then --num_classes.
    with pytest.raises(SystemExit) as e:
        main(["info", "-c", imagenet, "-c", r50, "--no_latency"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and err[0].startswith("error: ") and "add --num_classes N" in err[0], err
    main(["info", "-c", imagenet, "-c", r50, "--num_classes", "1000", "--no_latency"])
    assert "25,557,032" in capsys.readouterr().out  # torchvision's ResNet-50
    # A preset's own count is used (and said) when no data config is given.
    main(["info", "-c", str(CONFIGS / "arch/cifar/presets/vgg16_a.yaml"), "--no_latency"])
    assert "10 classes (as " in capsys.readouterr().out
