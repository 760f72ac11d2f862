#include "dcacn/dist/communicator.h"

#include <torch/autograd.h>
#include <torch/version.h>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
// DCACN_WITH_GLOO / DCACN_WITH_NCCL: set by CMake where the backend's headers were found (a
// pip LibTorch defines USE_C10D_GLOO for its users but ships no Gloo headers).
#ifdef DCACN_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef DCACN_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cerrno>
#include <cstdlib>
#include <map>
#include <sstream>

#include "dcacn/util/error.h"

namespace dcacn {
namespace {

#if TORCH_VERSION_MAJOR >= 2
using BackendBase = c10d::Backend;  // 2.x: a ProcessGroup dispatches to Backends
#else
using BackendBase = c10d::ProcessGroup;
#endif
using Clock = std::chrono::steady_clock;

// An integer environment variable, or `fallback` when it is unset.
int env_int(const char* name, int fallback, int min, int max) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  DCACN_CHECK(errno == 0 && *end == '\0' && value >= min && value <= max, "the environment ",
              "variable ", name, "='", text, "' is not an integer in [", min, ", ", max, "]");
  return static_cast<int>(value);
}

std::string first_line(const std::string& text) {
  const size_t end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv env;
  const bool any = std::getenv("WORLD_SIZE") != nullptr || std::getenv("RANK") != nullptr;
  if (!any) return env;
  DCACN_CHECK(std::getenv("WORLD_SIZE") != nullptr && std::getenv("RANK") != nullptr,
              "the environment sets ", std::getenv("RANK") ? "RANK" : "WORLD_SIZE", " but not ",
              std::getenv("RANK") ? "WORLD_SIZE" : "RANK",
              ": a distributed run needs both (torchrun sets them)");
  env.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  env.rank = env_int("RANK", 0, 0, env.world_size - 1);
  env.local_rank = env_int("LOCAL_RANK", 0, 0, 1 << 20);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr != nullptr && *addr != '\0') {
    env.master_addr = addr;
  }
  env.master_port = env_int("MASTER_PORT", env.master_port, 1, 65535);
  return env;
}

bool have_gloo() {
#ifdef DCACN_WITH_GLOO
  return true;
#else
  return false;
#endif
}

bool have_nccl() {
#ifdef DCACN_WITH_NCCL
  return true;
#else
  return false;
#endif
}

struct Communicator::Impl {
  DistEnv env;
  CommunicatorOptions options;
  std::string backend;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<BackendBase> group;
  torch::Device device{torch::kCPU};
  CommStats stats;

  // NCCL moves CUDA tensors only: a host tensor travels through a device copy.
  torch::Tensor to_backend(const torch::Tensor& t) const {
    if (backend == "nccl" && !t.is_cuda()) return t.to(device).contiguous();
    return t.contiguous();
  }

  // Runs one collective (or several), turning a failure into one line that says what happened.
  template <typename Body>
  void run(const char* what, Body&& body) {
    const auto start = Clock::now();
    try {
      body();
    } catch (const InputError&) {
      throw;
    } catch (const std::exception& e) {
      throw DistributedError(
          c10::str("rank ", env.rank, " of ", env.world_size, ": ", what, " failed (",
                   first_line(e.what()), "); another rank has stopped, lost its connection or not ",
                   "answered within the timeout of ", options.timeout.count() / 1000, " s"));
    }
    ++stats.calls;
    stats.seconds += std::chrono::duration<double>(Clock::now() - start).count();
  }
};

Communicator::Communicator(const DistEnv& env, torch::Device device, CommunicatorOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.env = env;
  m.options = options;
  std::string backend = options.backend;
  if (backend == "auto") backend = device.is_cuda() && have_nccl() ? "nccl" : "gloo";
  DCACN_CHECK(backend == "gloo" || backend == "nccl", "--dist-backend must be auto, gloo or nccl, ",
              "got ", options.backend);
  DCACN_CHECK(backend != "nccl" || have_nccl(), "--dist-backend nccl: this build of dcacn has no ",
              "NCCL (it needs a CUDA LibTorch and cmake -DDCACN_NCCL=ON)");
  DCACN_CHECK(backend != "gloo" || have_gloo(), "distributed training on ",
              device.is_cuda() ? "CUDA without NCCL" : "CPU", " needs Gloo, and this build of ",
              "dcacn has none (Debian: apt-get install libgloo-dev, then rebuild)");
  m.backend = backend;
  m.device = device;

  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<uint16_t>(env.master_port);
  store_options.isServer = env.rank == 0;
  store_options.numWorkers = static_cast<size_t>(env.world_size);
  store_options.waitWorkers = true;
  store_options.timeout = options.timeout;
  const std::string where = c10::str(env.master_addr, ":", env.master_port);
  try {
    m.store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
  } catch (const std::exception& e) {
    const std::string message = e.what();
    const bool in_use = message.find("in use") != std::string::npos;
    throw InputError(c10::str(
        "rank ", env.rank, " of ", env.world_size, ": ",
        in_use ? c10::str("MASTER_PORT ", env.master_port, " is in use on ", env.master_addr,
                          ": choose another (torchrun --master-port, or dcacn train --nproc ",
                          "picks a free one)")
               : c10::str("no rendezvous with the other ranks at ", where, " within ",
                          options.timeout.count() / 1000, " s (", first_line(message), ")")));
  }
  m.run("joining the process group", [&] {
#ifdef DCACN_WITH_NCCL
    if (backend == "nccl") {
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = options.timeout;
      m.group =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(m.store, env.rank, env.world_size, opts);
      return;
    }
#endif
#ifdef DCACN_WITH_GLOO
    auto opts = c10d::ProcessGroupGloo::Options::create(options.timeout);
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (is_loopback(env.master_addr)) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    opts->threads = 2;
    m.group = c10::make_intrusive<c10d::ProcessGroupGloo>(m.store, env.rank, env.world_size, opts);
#endif
  });
  m.stats = {};
}

Communicator::~Communicator() = default;

int Communicator::rank() const { return impl_->env.rank; }
int Communicator::size() const { return impl_->env.world_size; }
const std::string& Communicator::backend() const { return impl_->backend; }
const CommStats& Communicator::stats() const { return impl_->stats; }

void Communicator::all_reduce_sum(torch::Tensor& tensor) {
  torch::Tensor c = impl_->to_backend(tensor);
  impl_->run("an all-reduce", [&] {
    std::vector<torch::Tensor> list{c};
    impl_->group->allreduce(list)->wait();
  });
  if (!c.is_same(tensor)) tensor.copy_(c);
  impl_->stats.bytes_all_reduced += tensor.numel() * tensor.element_size();
}

void Communicator::all_reduce_mean(const std::vector<torch::Tensor>& tensors,
                                   int64_t bucket_bytes) {
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_type;
  for (const auto& t : tensors) by_type[t.scalar_type()].push_back(t);
  const double scale = 1.0 / size();
  for (auto& [type, list] : by_type) {
    size_t begin = 0;
    while (begin < list.size()) {
      size_t end = begin;
      int64_t bytes = 0;
      do {
        bytes += list[end].numel() * list[end].element_size();
        ++end;
      } while (end < list.size() &&
               bytes + list[end].numel() * list[end].element_size() <= bucket_bytes);
      std::vector<torch::Tensor> flat;
      for (size_t i = begin; i < end; ++i) flat.push_back(list[i].reshape({-1}));
      torch::Tensor bucket = torch::cat(flat);
      all_reduce_sum(bucket);
      bucket.mul_(scale);
      int64_t offset = 0;
      for (size_t i = begin; i < end; ++i) {
        const int64_t n = list[i].numel();
        list[i].copy_(bucket.slice(0, offset, offset + n).view(list[i].sizes()));
        offset += n;
      }
      begin = end;
    }
  }
}

void Communicator::broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  for (const auto& t : tensors) {
    torch::Tensor c = impl_->to_backend(t);
    impl_->run("a broadcast", [&] {
      std::vector<torch::Tensor> list{c};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      impl_->group->broadcast(list, o)->wait();
    });
    if (!c.is_same(t)) t.copy_(c);
    impl_->stats.bytes_broadcast += t.numel() * t.element_size();
  }
}

torch::Tensor Communicator::all_gather(const torch::Tensor& tensor) {
  torch::Tensor input = impl_->to_backend(tensor);
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int r = 0; r < size(); ++r) outputs[0].push_back(torch::empty_like(input));
  impl_->run("an all-gather", [&] {
    std::vector<torch::Tensor> inputs{input};
    impl_->group->allgather(outputs, inputs)->wait();
  });
  impl_->stats.bytes_all_gathered += input.numel() * input.element_size();
  return torch::cat(outputs[0], 0).to(tensor.device());
}

torch::Tensor Communicator::all_gather_rows(const torch::Tensor& tensor) {
  const torch::Tensor counts =
      all_gather(torch::full({1}, tensor.size(0), torch::TensorOptions().dtype(torch::kInt64)));
  const int64_t most = counts.max().item<int64_t>();
  std::vector<int64_t> shape = tensor.sizes().vec();
  shape[0] = most - tensor.size(0);
  const torch::Tensor padded = torch::cat({tensor, torch::zeros(shape, tensor.options())}, 0);
  const torch::Tensor all = all_gather(padded);
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < size(); ++r) {
    parts.push_back(all.slice(0, r * most, r * most + counts[r].item<int64_t>()));
  }
  return torch::cat(parts, 0);
}

void Communicator::check_same(const std::string& what, const std::string& value) {
  const std::string key = "dcacn/check/" + what + "/";
  std::vector<std::string> values(size());
  impl_->run("comparing the ranks' settings", [&] {
    impl_->store->set(key + std::to_string(rank()),
                      std::vector<uint8_t>(value.begin(), value.end()));
    for (int r = 0; r < size(); ++r) {
      const std::vector<uint8_t> bytes = impl_->store->get(key + std::to_string(r));
      values[r] = std::string(bytes.begin(), bytes.end());
    }
  });
  for (int r = 1; r < size(); ++r) {
    if (values[r] == values[0]) continue;
    // The first line that differs (the values are line-oriented, e.g. pretty-printed JSON).
    std::istringstream a(values[0]), b(values[r]);
    std::string la, lb;
    while (std::getline(a, la) && std::getline(b, lb) && la == lb) {
    }
    throw InputError(c10::str("the ranks disagree on their ", what, ": rank 0 has ", la, ", rank ",
                              r, " has ", lb, "; start every rank with the same options"));
  }
}

void Communicator::barrier() {
  impl_->run("a barrier", [&] { impl_->group->barrier()->wait(); });
}

torch::Tensor rank_shard(const torch::Tensor& index, int rank, int world) {
  const int64_t n = index.size(0);
  TORCH_CHECK(world >= 1 && rank >= 0 && rank < world && n % world == 0, "cannot shard ", n,
              " rows for rank ", rank, " of ", world);
  return index.slice(0, n / world * rank, n / world * (rank + 1));
}

namespace {

class AllGatherWithGrad : public torch::autograd::Function<AllGatherWithGrad> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               Communicator* comm) {
    ctx->saved_data["comm"] = reinterpret_cast<int64_t>(comm);
    ctx->saved_data["rows"] = x.size(0);
    return comm->all_gather(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* comm = reinterpret_cast<Communicator*>(ctx->saved_data["comm"].toInt());
    const int64_t rows = ctx->saved_data["rows"].toInt();
    torch::Tensor g = grads[0].contiguous().clone();
    comm->all_reduce_sum(g);
    const int64_t r = comm->rank();
    return {g.slice(0, r * rows, (r + 1) * rows), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor all_gather_with_grad(const torch::Tensor& tensor, Communicator& comm) {
  return AllGatherWithGrad::apply(tensor, &comm);
}

}  // namespace dcacn
