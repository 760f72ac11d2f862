#include <torch/autograd.h>

#include "../test_util.h"
#include "dcacn/model/cbam.h"
#include "dcacn/model/cbam_ops.h"

namespace dcacn {
namespace {

torch::Tensor cl(const torch::Tensor& t) { return t.contiguous(torch::MemoryFormat::ChannelsLast); }

// The composite definitions, evaluated in double precision as the reference.
torch::Tensor reference_channel_pool(const torch::Tensor& x) {
  return torch::cat({x.mean({2, 3}), std::get<0>(x.flatten(2).max(2))}, 1);
}
torch::Tensor reference_spatial_pool(const torch::Tensor& x, const torch::Tensor& g) {
  const torch::Tensor y = x * g.view({g.size(0), g.size(1), 1, 1});
  return torch::cat({std::get<0>(y.max(1, true)), y.mean(1, true)}, 1);
}

struct Grads {
  torch::Tensor out, dx, dg, ds;
};

// Runs one operation on leaves of the given dtype and layout with a fixed upstream gradient.
Grads run(const std::string& op, const torch::Tensor& x0, const torch::Tensor& g0,
          const torch::Tensor& s0, const torch::Tensor& upstream, torch::ScalarType dtype,
          bool channels_last, bool reference) {
  torch::Tensor x = x0.to(dtype);
  if (channels_last) x = cl(x);
  x = x.detach().requires_grad_();
  torch::Tensor g = g0.to(dtype).detach().requires_grad_();
  torch::Tensor s = s0.to(dtype).detach().requires_grad_();
  torch::Tensor out;
  if (op == "channel") {
    if (reference) {
      out = reference_channel_pool(x);
    } else {
      const auto [avg, max] = cbam_channel_pool(x);
      out = torch::cat({avg, max}, 1);
    }
  } else if (op == "spatial") {
    out = reference ? reference_spatial_pool(x, g) : cbam_spatial_pool(x, g);
  } else {
    out = reference ? x * g.view({g.size(0), g.size(1), 1, 1}) * s : cbam_gate_product(x, g, s);
  }
  (out * upstream.to(dtype)).sum().backward();
  auto grad = [](const torch::Tensor& t) {
    return t.grad().defined() ? t.grad().to(torch::kDouble) : torch::Tensor();
  };
  return {out.to(torch::kDouble), grad(x), grad(g), grad(s)};
}

void expect_close(const torch::Tensor& a, const torch::Tensor& b, double tol,
                  const std::string& what) {
  ASSERT_EQ(a.defined(), b.defined()) << what;
  if (!a.defined()) return;
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double err = (a - b).abs().max().item<double>();
  const double scale = std::max(1.0, b.abs().max().item<double>());
  EXPECT_LE(err, tol * scale) << what << ": max difference " << err;
}

class CbamOpsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CbamOpsTest, FusedKernelsMatchTheCompositeDefinitionAndItsGradients) {
  const std::string op = GetParam();
  torch::manual_seed(3);
  for (const auto& shape :
       std::vector<std::vector<int64_t>>{{3, 16, 9, 7}, {2, 5, 1, 1}, {4, 1, 6, 6}}) {
    const int64_t n = shape[0], c = shape[1], h = shape[2], w = shape[3];
    // Values k / 16 with distinct k in every pooling group, exact in bfloat16: a tie, or two
    // values that round to one bfloat16, would let the implementations pick different maxima.
    const torch::Tensor k = torch::arange(c).view({1, c, 1}) * (h * w) +
                            torch::arange(h * w).view({1, 1, h * w}) +
                            torch::randint(256, {n, 1, 1});
    const torch::Tensor x = ((k * 37).remainder(256) - 128).to(torch::kDouble).div(16).view(shape);
    const torch::Tensor g = torch::rand({n, c}, torch::kDouble);
    const torch::Tensor s = torch::rand({n, 1, h, w}, torch::kDouble);
    const torch::Tensor up = op == "channel"   ? torch::randn({n, 2 * c}, torch::kDouble)
                             : op == "spatial" ? torch::randn({n, 2, h, w}, torch::kDouble)
                                               : torch::randn(shape, torch::kDouble);
    ASSERT_TRUE(cbam_fast_path(cl(x.to(torch::kFloat))));
    const std::string where = op + " " + c10::str(x.sizes());
    for (const auto& setting :
         {std::pair<torch::ScalarType, double>{torch::kFloat, 1e-5}, {torch::kBFloat16, 2e-2}}) {
      // (named copies, not a structured binding: C++17 lambdas cannot capture one)
      const torch::ScalarType dtype = setting.first;
      const double tol = setting.second;
      // The reference sees the same rounded inputs.
      auto rounded = [&](const torch::Tensor& t) { return t.to(dtype).to(torch::kDouble); };
      const Grads want =
          run(op, rounded(x), rounded(g), rounded(s), rounded(up), torch::kDouble, false, true);
      const Grads got = run(op, x, g, s, up, dtype, true, false);
      const std::string what = where + (dtype == torch::kFloat ? " float" : " bf16");
      expect_close(got.out, want.out, tol, what + " output");
      expect_close(got.dx, want.dx, tol, what + " dx");
      expect_close(got.dg, want.dg, tol, what + " dg");
      expect_close(got.ds, want.ds, tol, what + " ds");
    }
    // Contiguous NCHW input takes the composite path: same values.
    const Grads want = run(op, x, g, s, up, torch::kDouble, false, true);
    const Grads composite = run(op, x, g, s, up, torch::kFloat, false, false);
    expect_close(composite.out, want.out, 1e-5, where + " composite output");
    expect_close(composite.dx, want.dx, 1e-5, where + " composite dx");
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, CbamOpsTest, ::testing::Values("channel", "spatial", "product"));

TEST(CbamFused, ModuleGivesTheSameOutputAndParameterGradientsInEitherLayout) {
  torch::manual_seed(5);
  CBAM cbam(CBAMOptions(24));
  torch::nn::init::normal_(cbam->spatial_gate->bn->weight);  // the official init zeroes it
  const torch::Tensor x = torch::randn({4, 24, 8, 8});
  auto grads = [&](const torch::Tensor& input) {
    cbam->zero_grad();
    torch::Tensor xi = input.detach().requires_grad_();
    const torch::Tensor y = cbam->forward(xi);
    (y * y).sum().backward();
    std::vector<torch::Tensor> out{y.contiguous(), xi.grad().contiguous()};
    for (const auto& p : cbam->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  ASSERT_TRUE(cbam_fast_path(cl(x)));
  ASSERT_FALSE(cbam_fast_path(x));
  const auto fused = grads(cl(x));
  const auto composite = grads(x);
  ASSERT_EQ(fused.size(), composite.size());
  for (size_t i = 0; i < fused.size(); ++i) {
    expect_close(fused[i].to(torch::kDouble), composite[i].to(torch::kDouble), 1e-4,
                 "tensor " + std::to_string(i));
  }
  // The composite module path (channel gate, then spatial gate) agrees as well.
  const torch::Tensor twice = cbam->spatial_gate->forward(cbam->channel_gate->forward(x));
  expect_close(cbam->forward(cl(x)).to(torch::kDouble), twice.to(torch::kDouble), 1e-5, "module");
}

TEST(CbamFused, BadShapesAreRefused) {
  const torch::Tensor x = cl(torch::randn({2, 4, 3, 3}));
  EXPECT_THROW(cbam_spatial_pool(x, torch::rand({2, 5})), c10::Error);
  EXPECT_THROW(cbam_gate_product(x, torch::rand({2, 4}), torch::rand({2, 1, 3, 4})), c10::Error);
  EXPECT_THROW(cbam_channel_pool(torch::randn({2, 4, 3})), c10::Error);
}

}  // namespace
}  // namespace dcacn
