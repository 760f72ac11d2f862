#include "dcacn/dist/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>

#include "dcacn/util/error.h"
#include "dcacn/util/log.h"

namespace dcacn {
namespace {

volatile sig_atomic_t g_signal = 0;  // a signal for the ranks, caught by the launcher

void on_signal(int sig) { g_signal = sig; }

// SIGINT and SIGTERM caught (without SA_RESTART, so that waitpid returns) for the launcher's
// lifetime.
class ForwardedSignals {
 public:
  ForwardedSignals() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~ForwardedSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

std::string describe(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return c10::str("was killed by signal ", sig, " (", strsignal(sig), ")");
  }
  return c10::str("exited with status ", WEXITSTATUS(status));
}

}  // namespace

int free_port(const std::string& address) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  DCACN_CHECK(fd >= 0, "cannot open a socket to find a free port: ", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) addr.sin_addr.s_addr = INADDR_ANY;
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int err = errno;
  close(fd);
  DCACN_CHECK(ok, "cannot find a free port on ", address, ": ", std::strerror(err));
  return ntohs(addr.sin_port);
}

int launch_local_ranks(const std::vector<std::string>& argv, const LaunchOptions& o) {
  DCACN_CHECK(o.nproc >= 1, "--nproc must be at least 1, got ", o.nproc);
  DCACN_CHECK(!argv.empty(), "nothing to launch");
  const int port = o.master_port > 0 ? o.master_port : free_port(o.master_addr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  ForwardedSignals forwarding;
  g_signal = 0;
  const pid_t launcher = getpid();
  std::vector<pid_t> pids(o.nproc, -1);
  for (int r = 0; r < o.nproc; ++r) {
    const pid_t pid = fork();
    DCACN_CHECK(pid >= 0, "cannot start rank ", r, ": ", std::strerror(errno));
    if (pid == 0) {
      // The ranks' own group: a Ctrl-C at the terminal reaches them once, through the launcher.
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // the launcher killed: the ranks stop too
      if (getppid() != launcher) _exit(1);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      const auto set = [](const char* name, const std::string& value) {
        setenv(name, value.c_str(), 1);
      };
      set("RANK", std::to_string(r));
      set("LOCAL_RANK", std::to_string(r));
      set("GROUP_RANK", "0");
      set("WORLD_SIZE", std::to_string(o.nproc));
      set("LOCAL_WORLD_SIZE", std::to_string(o.nproc));
      set("MASTER_ADDR", o.master_addr);
      set("MASTER_PORT", std::to_string(port));
      execv(args[0], args.data());
      std::cerr << "error: cannot run " << argv[0] << " as rank " << r << ": "
                << std::strerror(errno) << std::endl;
      _exit(127);
    }
    pids[r] = pid;
  }
  log_info(c10::str(o.nproc, " ranks on ", o.master_addr, ":", port, " (pids ",
                    c10::Join(", ", pids), ")"));

  using Clock = std::chrono::steady_clock;
  int alive = o.nproc, result = 0;
  bool stopping = false, interrupted = false;
  Clock::time_point kill_at;
  const auto signal_all = [&](int sig) {
    for (pid_t pid : pids) {
      if (pid > 0) kill(pid, sig);
    }
  };
  while (alive > 0) {
    if (g_signal != 0) {
      signal_all(g_signal);
      g_signal = 0;
      interrupted = true;
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, stopping ? WNOHANG : 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) break;
    if (pid == 0) {  // stopping: a rank has not exited yet
      if (Clock::now() >= kill_at) signal_all(SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    int rank = -1;
    for (int r = 0; r < o.nproc; ++r) {
      if (pids[r] == pid) rank = r;
    }
    if (rank < 0) continue;
    pids[rank] = -1;
    --alive;
    const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!failed || result != 0) continue;
    result = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    if (interrupted) continue;  // the ranks stop because they were asked to
    if (alive > 0) {
      std::cerr << "error: rank " << rank << " (pid " << pid << ") " << describe(status)
                << "; stopping the other ranks" << std::endl;
      signal_all(SIGTERM);
      stopping = true;
      kill_at =
          Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.grace_seconds * 1000));
    } else {
      std::cerr << "error: rank " << rank << " (pid " << pid << ") " << describe(status)
                << std::endl;
    }
  }
  return result;
}

}  // namespace dcacn
