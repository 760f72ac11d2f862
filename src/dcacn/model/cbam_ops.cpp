#include "dcacn/model/cbam_ops.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <atomic>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

namespace dcacn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// All kernels see x as [N, P, C] (P = H * W) with C contiguous: the channels-last layout.
struct Shape {
  int64_t n, c, p;
  explicit Shape(const torch::Tensor& x) : n(x.size(0)), c(x.size(1)), p(x.size(2) * x.size(3)) {}
};

torch::Tensor channels_last(const torch::Tensor& t) {
  return t.contiguous(torch::MemoryFormat::ChannelsLast);
}

torch::Tensor as_float(const torch::Tensor& t) { return t.to(torch::kFloat).contiguous(); }

// Parallel over samples: every kernel's work is independent per sample.
template <typename F>
void for_each_sample(int64_t n, const F& f) {
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) f(i);
  });
}

class ChannelPool : public torch::autograd::Function<ChannelPool> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x_in) {
    const torch::Tensor x = channels_last(x_in);
    const Shape s(x);
    torch::Tensor avg = torch::empty({s.n, s.c}, x.options());
    torch::Tensor mx = torch::empty({s.n, s.c}, x.options());
    torch::Tensor arg = torch::empty({s.n, s.c}, x.options().dtype(torch::kInt));
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "cbam_channel_pool", [&] {
      const scalar_t* xp = x.data_ptr<scalar_t>();
      scalar_t* ap = avg.data_ptr<scalar_t>();
      scalar_t* mp = mx.data_ptr<scalar_t>();
      int32_t* ip = arg.data_ptr<int32_t>();
      for_each_sample(s.n, [&](int64_t i) {
        std::vector<float> sum(s.c, 0.f), best(s.c, -std::numeric_limits<float>::infinity());
        std::vector<int32_t> where(s.c, 0);
        for (int64_t q = 0; q < s.p; ++q) {
          const scalar_t* row = xp + (i * s.p + q) * s.c;
          for (int64_t k = 0; k < s.c; ++k) {
            const float v = static_cast<float>(row[k]);
            sum[k] += v;
            // "not <=" also takes a NaN, which then propagates like amax's.
            if (!(v <= best[k])) {
              best[k] = v;
              where[k] = static_cast<int32_t>(q);
            }
          }
        }
        for (int64_t k = 0; k < s.c; ++k) {
          ap[i * s.c + k] = static_cast<scalar_t>(sum[k] / static_cast<float>(s.p));
          mp[i * s.c + k] = static_cast<scalar_t>(best[k]);
          ip[i * s.c + k] = where[k];
        }
      });
    });
    ctx->save_for_backward({arg});
    ctx->saved_data["shape"] = x.sizes().vec();
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    return {avg, mx};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor arg = ctx->get_saved_variables()[0];
    const auto shape = ctx->saved_data["shape"].toIntVector();
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    const int64_t n = shape[0], c = shape[1], p = shape[2] * shape[3];
    const torch::Tensor davg = grads[0].defined() ? as_float(grads[0]) : torch::zeros({n, c});
    const torch::Tensor dmax = grads[1].defined() ? as_float(grads[1]) : torch::zeros({n, c});
    torch::Tensor dx = torch::empty(shape, torch::TensorOptions().dtype(dtype))
                           .contiguous(torch::MemoryFormat::ChannelsLast);
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, dtype, "cbam_channel_pool_backward", [&] {
      scalar_t* dp = dx.data_ptr<scalar_t>();
      const float* ga = davg.data_ptr<float>();
      const float* gm = dmax.data_ptr<float>();
      const int32_t* ip = arg.data_ptr<int32_t>();
      const float inv = 1.f / static_cast<float>(p);
      for_each_sample(n, [&](int64_t i) {
        std::vector<scalar_t> spread(c);
        for (int64_t k = 0; k < c; ++k) spread[k] = static_cast<scalar_t>(ga[i * c + k] * inv);
        for (int64_t q = 0; q < p; ++q) {
          std::copy(spread.begin(), spread.end(), dp + (i * p + q) * c);
        }
        for (int64_t k = 0; k < c; ++k) {
          scalar_t& at = dp[(i * p + ip[i * c + k]) * c + k];
          at = static_cast<scalar_t>(ga[i * c + k] * inv + gm[i * c + k]);
        }
      });
    });
    return {dx};
  }
};

class SpatialPool : public torch::autograd::Function<SpatialPool> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& g_in) {
    const torch::Tensor x = channels_last(x_in);
    const torch::Tensor g = as_float(g_in);
    const Shape s(x);
    torch::Tensor out = torch::empty({s.n, 2, x.size(2), x.size(3)}, x.options());
    torch::Tensor arg = torch::empty({s.n, s.p}, x.options().dtype(torch::kInt));
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "cbam_spatial_pool", [&] {
      const scalar_t* xp = x.data_ptr<scalar_t>();
      const float* gp = g.data_ptr<float>();
      scalar_t* op = out.data_ptr<scalar_t>();
      int32_t* ip = arg.data_ptr<int32_t>();
      const float inv = 1.f / static_cast<float>(s.c);
      for_each_sample(s.n, [&](int64_t i) {
        const float* gi = gp + i * s.c;
        for (int64_t q = 0; q < s.p; ++q) {
          const scalar_t* row = xp + (i * s.p + q) * s.c;
          float sum = 0.f, best = -std::numeric_limits<float>::infinity();
          int32_t where = 0;
          for (int64_t k = 0; k < s.c; ++k) {
            const float v = static_cast<float>(row[k]) * gi[k];
            sum += v;
            if (!(v <= best)) {
              best = v;
              where = static_cast<int32_t>(k);
            }
          }
          op[(i * 2) * s.p + q] = static_cast<scalar_t>(best);
          op[(i * 2 + 1) * s.p + q] = static_cast<scalar_t>(sum * inv);
          ip[i * s.p + q] = where;
        }
      });
    });
    ctx->save_for_backward({x, g, arg});
    ctx->saved_data["g_dtype"] = static_cast<int64_t>(g_in.scalar_type());
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &g = saved[1], &arg = saved[2];
    const auto g_dtype = static_cast<torch::ScalarType>(ctx->saved_data["g_dtype"].toInt());
    const Shape s(x);
    const torch::Tensor dout = as_float(grads[0]);  // [N, 2, H, W]
    torch::Tensor dx = torch::empty_like(x, torch::MemoryFormat::ChannelsLast);
    torch::Tensor dg = torch::zeros({s.n, s.c});
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "cbam_spatial_pool_backward",
                                   [&] {
                                     const scalar_t* xp = x.data_ptr<scalar_t>();
                                     scalar_t* dxp = dx.data_ptr<scalar_t>();
                                     const float* gp = g.data_ptr<float>();
                                     const float* dp = dout.data_ptr<float>();
                                     const int32_t* ip = arg.data_ptr<int32_t>();
                                     float* dgp = dg.data_ptr<float>();
                                     const float inv = 1.f / static_cast<float>(s.c);
                                     for_each_sample(s.n, [&](int64_t i) {
                                       const float* gi = gp + i * s.c;
                                       float* dgi = dgp + i * s.c;
                                       for (int64_t q = 0; q < s.p; ++q) {
                                         const float dmean = dp[(i * 2 + 1) * s.p + q] * inv;
                                         const float dmax = dp[(i * 2) * s.p + q];
                                         const int64_t top = ip[i * s.p + q];
                                         const scalar_t* row = xp + (i * s.p + q) * s.c;
                                         scalar_t* drow = dxp + (i * s.p + q) * s.c;
                                         for (int64_t k = 0; k < s.c; ++k) {
                                           const float dy = dmean + (k == top ? dmax : 0.f);
                                           drow[k] = static_cast<scalar_t>(dy * gi[k]);
                                           dgi[k] += dy * static_cast<float>(row[k]);
                                         }
                                       }
                                     });
                                   });
    return {dx, dg.to(g_dtype)};
  }
};

class GateProduct : public torch::autograd::Function<GateProduct> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& g_in, const torch::Tensor& s_in) {
    const torch::Tensor x = channels_last(x_in);
    const torch::Tensor g = as_float(g_in), sp = as_float(s_in);
    const Shape s(x);
    torch::Tensor out = torch::empty_like(x, torch::MemoryFormat::ChannelsLast);
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "cbam_gate_product", [&] {
      const scalar_t* xp = x.data_ptr<scalar_t>();
      scalar_t* op = out.data_ptr<scalar_t>();
      const float* gp = g.data_ptr<float>();
      const float* spp = sp.data_ptr<float>();
      for_each_sample(s.n, [&](int64_t i) {
        const float* gi = gp + i * s.c;
        for (int64_t q = 0; q < s.p; ++q) {
          const float w = spp[i * s.p + q];
          const scalar_t* row = xp + (i * s.p + q) * s.c;
          scalar_t* orow = op + (i * s.p + q) * s.c;
          for (int64_t k = 0; k < s.c; ++k) {
            orow[k] = static_cast<scalar_t>(static_cast<float>(row[k]) * gi[k] * w);
          }
        }
      });
    });
    ctx->save_for_backward({x, g, sp});
    ctx->saved_data["g_dtype"] = static_cast<int64_t>(g_in.scalar_type());
    ctx->saved_data["s_dtype"] = static_cast<int64_t>(s_in.scalar_type());
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &g = saved[1], &sp = saved[2];
    const auto g_dtype = static_cast<torch::ScalarType>(ctx->saved_data["g_dtype"].toInt());
    const auto s_dtype = static_cast<torch::ScalarType>(ctx->saved_data["s_dtype"].toInt());
    const Shape s(x);
    const torch::Tensor dout = channels_last(grads[0]).to(x.scalar_type());
    torch::Tensor dx = torch::empty_like(x, torch::MemoryFormat::ChannelsLast);
    torch::Tensor dg = torch::zeros({s.n, s.c});
    torch::Tensor ds = torch::empty({s.n, 1, x.size(2), x.size(3)});
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "cbam_gate_product_backward",
                                   [&] {
                                     const scalar_t* xp = x.data_ptr<scalar_t>();
                                     const scalar_t* dop = dout.data_ptr<scalar_t>();
                                     scalar_t* dxp = dx.data_ptr<scalar_t>();
                                     const float* gp = g.data_ptr<float>();
                                     const float* spp = sp.data_ptr<float>();
                                     float* dgp = dg.data_ptr<float>();
                                     float* dsp = ds.data_ptr<float>();
                                     for_each_sample(s.n, [&](int64_t i) {
                                       const float* gi = gp + i * s.c;
                                       float* dgi = dgp + i * s.c;
                                       for (int64_t q = 0; q < s.p; ++q) {
                                         const float w = spp[i * s.p + q];
                                         const scalar_t* row = xp + (i * s.p + q) * s.c;
                                         const scalar_t* grow = dop + (i * s.p + q) * s.c;
                                         scalar_t* drow = dxp + (i * s.p + q) * s.c;
                                         float acc = 0.f;
                                         for (int64_t k = 0; k < s.c; ++k) {
                                           const float go = static_cast<float>(grow[k]);
                                           const float xv = static_cast<float>(row[k]);
                                           drow[k] = static_cast<scalar_t>(go * gi[k] * w);
                                           dgi[k] += go * xv * w;
                                           acc += go * xv * gi[k];
                                         }
                                         dsp[i * s.p + q] = acc;
                                       }
                                     });
                                   });
    return {dx, dg.to(g_dtype), ds.to(s_dtype)};
  }
};

void check_shapes(const torch::Tensor& x, const torch::Tensor& g, const char* what) {
  TORCH_CHECK(x.dim() == 4, what, ": expected an [N, C, H, W] input, got ", x.sizes());
  TORCH_CHECK(g.dim() == 2 && g.size(0) == x.size(0) && g.size(1) == x.size(1), what,
              ": expected a [", x.size(0), ", ", x.size(1), "] channel gate, got ", g.sizes());
}

std::atomic<bool>& fused_flag() {
  static std::atomic<bool> flag{[] {
    const char* value = std::getenv("DCACN_CBAM_FUSED");
    return value == nullptr || std::string(value) != "0";
  }()};
  return flag;
}

}  // namespace

void set_cbam_fused(bool enabled) { fused_flag() = enabled; }
bool cbam_fused() { return fused_flag(); }

bool cbam_fast_path(const torch::Tensor& x) {
  return cbam_fused() && x.device().is_cpu() && x.dim() == 4 &&
         (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16) &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast) && x.numel() > 0 &&
         x.size(2) * x.size(3) <= std::numeric_limits<int32_t>::max() &&
         x.size(1) <= std::numeric_limits<int32_t>::max();
}

std::pair<torch::Tensor, torch::Tensor> cbam_channel_pool(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "cbam_channel_pool: expected an [N, C, H, W] input, got ", x.sizes());
  if (!cbam_fast_path(x)) return {x.mean({2, 3}), x.amax({2, 3})};
  const variable_list out = ChannelPool::apply(x);
  return {out[0], out[1]};
}

torch::Tensor cbam_spatial_pool(const torch::Tensor& x, const torch::Tensor& g) {
  check_shapes(x, g, "cbam_spatial_pool");
  if (!cbam_fast_path(x)) {
    const torch::Tensor y = x * g.unsqueeze(2).unsqueeze(3);
    return torch::cat({y.amax(1, /*keepdim=*/true), y.mean(1, true)}, 1);
  }
  return SpatialPool::apply(x, g);
}

torch::Tensor cbam_gate_product(const torch::Tensor& x, const torch::Tensor& g,
                                const torch::Tensor& s) {
  check_shapes(x, g, "cbam_gate_product");
  TORCH_CHECK(s.dim() == 4 && s.size(0) == x.size(0) && s.size(1) == 1 && s.size(2) == x.size(2) &&
                  s.size(3) == x.size(3),
              "cbam_gate_product: expected a [", x.size(0), ", 1, ", x.size(2), ", ", x.size(3),
              "] spatial gate, got ", s.sizes());
  if (!cbam_fast_path(x)) return x * g.unsqueeze(2).unsqueeze(3) * s;
  return GateProduct::apply(x, g, s);
}

}  // namespace dcacn
