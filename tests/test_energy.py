"""Energy accounting: counters equal hand counts, the cost table cites every number."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from evrt.backends import make_backend
from evrt.backends.energy import COSTS_PATH, CostTable, count, energy_report, track_neurons
from evrt.errors import ConfigError


def test_linear_counters_by_hand():
    # K = 5 inputs, N = 3 outputs on tiles of 2 rows x 2 columns: 3 row tiles x 2 column tiles
    xb = make_backend("crossbar", tile_rows=2, tile_cols=2)
    x = torch.tensor([[1.0, 0, 0, 1, 1],      # drives rows 0, 3, 4: row tiles 0, 1, 2
                      [0.0, 0, 0, 0, 1]])     # drives row 4 only: row tile 2
    w = torch.randn(3, 5)
    xb.linear(x, w, torch.zeros(3), layer="fc", spikes=True)
    c = xb.counters
    assert c["xbar_read_vectors"] == 2
    assert c["spikes_in"] == 4
    assert c["xbar_rows_driven"] == 4 * 2           # 4 driven rows, each in 2 column tiles
    assert c["pulses"] == 8 and c["dac_conversions"] == 0
    assert c["xbar_tile_reads"] == (3 + 1) * 2      # row tiles with a pulse x column tiles
    assert c["xbar_cols_read"] == (3 + 1) * 2 * 3   # bit lines: 2 per weight column
    assert c["xbar_cells_read"] == 4 * 2 * 3
    assert c["adc_conversions"] == (3 + 1) * 3
    assert c["acc_adds"] == ((3 - 1) + (1 - 1)) * 3
    assert c["scale_mults"] == 6 and c["bias_adds"] == 6 and c["outputs"] == 6
    assert c["macs"] == 2 * 5 * 3 and c["macs_spiking"] == 30
    assert c["synops"] == 4 * 3

    costs = CostTable.load()
    rep = energy_report(xb, inferences=2, costs=costs)
    add, mult = costs["digital.fp32_add_pj"], costs["digital.fp32_mult_pj"]
    crossbar = (24 * costs["crossbar.cell_read_pj"] + 24 * costs["crossbar.column_read_pj"]
                + 12 * costs.adc_pj(0) + 8 * costs["crossbar.dac_1bit_pj"]
                + (6 + 6) * add + 6 * mult)
    digital = 12 * add + 6 * add
    assert rep.crossbar_per_inference_pj == pytest.approx(crossbar / 2)
    assert rep.digital_per_inference_pj == pytest.approx(digital / 2)
    assert rep.digital_dense_per_inference_pj == pytest.approx((30 * 4.6 + 6 * 0.9) / 2)
    assert rep.ratio == pytest.approx(digital / crossbar)
    assert rep.crossbar_latency_ns == pytest.approx(100.0)       # one read cycle per inference
    assert "PROJECTED" in rep.text() and rep.to_dict()["label"] == "projected"


def test_dac_counts_bits_for_dense_inputs():
    xb = make_backend("crossbar", dac_bits=4, adc_bits=6)
    x = torch.tensor([[0.5, 0.0, -0.25]])
    xb.linear(x, torch.randn(2, 3), None, layer="fc")
    # DAC inputs drive every row (a zero is a 0 V level): 3 conversions of 4 bit-serial pulses
    assert xb.counters["dac_conversions"] == 3 and xb.counters["pulses"] == 0
    assert xb.counters["xbar_rows_driven"] == 3 and xb.counters["xbar_cells_read"] == 3 * 2 * 2
    costs = CostTable.load()
    rep = energy_report(xb, inferences=1, costs=costs)
    assert rep.crossbar_pj["dac"] == pytest.approx(3 * 4 * costs["crossbar.dac_1bit_pj"])
    assert rep.crossbar_pj["adc"] == pytest.approx(2 * costs["crossbar.adc_pj_at_ref_bits"] / 4)
    assert rep.digital_pj["macs"] == pytest.approx(6 * 4.6)


def test_conv_counters_by_hand_and_digital_agrees():
    # one spike in the centre of a 3x3 input, 2x2 kernel, 2 output channels: 4 positions see it
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1.0
    w = torch.randn(2, 1, 2, 2)
    xb = make_backend("crossbar")
    dg = make_backend("digital")
    out_x = xb.conv2d(x, w, None, layer="c", spikes=True)
    out_d = dg.conv2d(x, w, None, layer="c", spikes=True)
    assert torch.allclose(out_x, out_d, atol=1e-6)
    for c in (xb.counters, dg.counters):
        assert c["synops"] == 4 * 2
        assert c["macs"] == 4 * 4 * 2
        assert c["spikes_in"] == 1
        assert c["outputs"] == 8
    assert xb.counters["xbar_read_vectors"] == 4
    assert xb.counters["xbar_rows_driven"] == 4
    assert xb.counters["adc_conversions"] == 4 * 2
    # the digital-only report has the baseline and no crossbar figure
    rep = energy_report(dg, inferences=1)
    assert rep.crossbar_pj is None and rep.ratio is None
    assert rep.digital_per_inference_pj == pytest.approx(8 * 0.9)


def test_digital_synops_exact_with_stride_and_padding():
    x = (torch.rand(2, 3, 9, 8) < 0.3).float()
    w = torch.randn(4, 3, 3, 3)
    xb, dg = make_backend("crossbar"), make_backend("digital")
    xb.conv2d(x, w, None, stride=2, padding=1, layer="c", spikes=True)
    dg.conv2d(x, w, None, stride=2, padding=1, layer="c", spikes=True)
    assert xb.counters["synops"] == dg.counters["synops"] > 0
    assert xb.counters["macs"] == dg.counters["macs"]


def test_model_side_counts_and_neuron_hooks():
    class LIFNode(nn.Module):
        def forward(self, v):
            return (v > 0).float()

    model = nn.Sequential(nn.Linear(4, 6), LIFNode())
    b = make_backend("digital")
    handles = track_neurons(model, b)
    model(torch.randn(3, 4))
    assert b.counters["neuron_updates"] == 18
    for h in handles:
        h.remove()
    count(b, timesteps=2, neuron_updates=2)
    assert b.counters["neuron_updates"] == 20 and b.counters["timesteps"] == 2
    rep = energy_report(b, inferences=1)
    assert rep.digital_pj["neurons"] == pytest.approx(20 * 5.5)


def test_cost_table_cites_every_number(tmp_path):
    costs = CostTable.load()
    assert costs["digital.fp32_mac_pj"] == 4.6 and costs["digital.fp32_add_pj"] == 0.9
    assert set(costs.values) == set(costs.sources)
    assert all(len(s) > 10 for s in costs.sources.values())
    text = COSTS_PATH.read_text()
    bad = tmp_path / "c.toml"
    bad.write_text(text.replace('fp32_add_pj = { value = 0.9, unit = "pJ", source = "[H14] FP32 add, 45 nm" }',
                                'fp32_add_pj = { value = 0.9 }'))
    with pytest.raises(ConfigError, match="digital.fp32_add_pj"):
        CostTable.load(bad)
    bad.write_text(text + '\n[analog]\nx = { value = 1, source = "me" }\n')
    with pytest.raises(ConfigError, match="analog"):
        CostTable.load(bad)
