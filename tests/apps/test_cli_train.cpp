// `dcacn train` as a user runs it: presets in --help, resume's contract, Ctrl-C.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "../test_util.h"
#include "cli_util.h"
#include "dcacn/dist/communicator.h"
#include "dcacn/io/image_grid.h"
#include "dcacn/model/resnet.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/run/checkpoint.h"

namespace dcacn {
namespace {

namespace fs = std::filesystem;
using test::CliRun;
using test::read_text;
using test::run_cli;

class CliTrainTest : public test::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    test::write_two_square_idx(path("data"), 128);
  }
  // The CPU preset's mode (bf16, channels-last) on a tiny network.
  std::string tiny_args(int64_t epochs) const {
    return "train --dataset mnist --data " + path("data") +
           " --split train --arch resnet18 --width 4 --clusters 2 --batch-size 32 "
           "--views 2x12@0.5-1,2x6@0.2-0.5 --lr 1e-3 --eval-batch-size 64 --bf16 "
           "--channels-last --device cpu --quiet --epochs " +
           std::to_string(epochs);
  }
};

// The metrics rows without their timing columns (wall_seconds, images_per_second).
std::vector<std::string> rows_without_timings(const std::string& path) {
  std::vector<std::string> rows;
  std::stringstream in(read_text(path));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string x; std::getline(ls, x, ',');) f.push_back(x);
    if (f.size() > 7) f[2] = f[7] = "";
    std::string joined;
    for (const auto& x : f) joined += x + ",";
    rows.push_back(joined);
  }
  return rows;
}

TEST_F(CliTrainTest, HelpWithAPresetShowsThePresetsValues) {
  const CliRun plain = run_cli("train --help");
  ASSERT_EQ(plain.status, 0);
  EXPECT_NE(plain.output.find("--width INT=64"), std::string::npos) << plain.output;
  const CliRun r = run_cli("train --preset fmnist-cpu --help");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("--width INT=16"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--views TEXT=2x28@0.2-1,4x14@0.05-0.5"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--time-budget FLOAT=30"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(
                "--stages TEXT=contrastive:share=1:neighbours=1,neighbours:space=features:own=on"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("--eval-every-minutes FLOAT=1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--eval-images INT=5000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--neighbours TEXT=pixels"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--bf16,--no-bf16{false}=on"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--keep-epoch-checkpoints TEXT=none"), std::string::npos);
  // The options that may change on resume are listed.
  EXPECT_NE(r.output.find("only --epochs, --time-budget, --max-steps, --device"),
            std::string::npos);
}

TEST_F(CliTrainTest, ResumeRefusesFixedOptionsAndKeepsTheRunsOwnBudget) {
  ASSERT_EQ(run_cli(tiny_args(3) + " --max-steps 2 --out " + path("run")).status, 0);
  const CliRun lr = run_cli("train --resume " + path("run") + " --lr 0.5");
  EXPECT_EQ(lr.status, 1);
  EXPECT_EQ(lr.output,
            "error: --lr cannot change when resuming a run: it keeps its own (may "
            "change: --epochs, --time-budget, --max-steps, --device, --selflabel-minutes, "
            "--selflabel-steps, --selflabel-lr, --selflabel-threshold, --selflabel-quota, "
            "--selflabel-ce-weight, --selflabel-instance-weight, --selflabel-entropy-weight, "
            "--neighbours, --neighbour-k, --neighbour-heads, --neighbour-epochs, "
            "--neighbour-lr, --neighbour-entropy-weight, --stages, --eval-every, "
            "--eval-every-minutes, --eval-images, --eval-batch-size, --keep-epoch-checkpoints, "
            "--threads, --quiet)\n");
  EXPECT_EQ(run_cli("train --resume " + path("run") + " --preset fmnist-cpu").status, 1);
  // Its own step budget is spent: resuming as it is trains nothing.
  const CliRun same = run_cli("train --resume " + path("run") + " --quiet");
  EXPECT_EQ(same.status, 1);
  EXPECT_NE(same.output.find("already reached its contrastive stage's step budget of 2 steps"),
            std::string::npos)
      << same.output;
  const CliRun more = run_cli("train --resume " + path("run") + " --max-steps 5 --quiet");
  ASSERT_EQ(more.status, 0) << more.output;
  EXPECT_NE(more.output.find("budget reached: 5 steps"), std::string::npos) << more.output;
}

// The CPU preset's pipeline runs inside --time-budget (the whole run's); the flags that describe
// a pipeline of their own (--max-steps here) replace it with the one they describe.
TEST_F(CliTrainTest, ThePresetsPipelineRunsInsideTheBudgetUnlessFlagsDescribeAnother) {
  const std::string args = "train --preset fmnist-cpu --dataset mnist --data " + path("data") +
                           " --split train --arch resnet18 --width 4 --clusters 2 --batch-size 32 "
                           "--views 2x12@0.5-1,2x6@0.2-0.5 --eval-batch-size 64 --neighbour-k 5 "
                           "--neighbour-heads 2 --neighbour-epochs 2 --device cpu --out ";
  const CliRun whole = run_cli(args + path("whole") + " --time-budget 0.02");
  ASSERT_EQ(whole.status, 0) << whole.output;
  EXPECT_NE(
      read_text(path("whole/config.json"))
          .find(
              "\"stages\": \"contrastive:share=1:neighbours=1,neighbours:space=features:own=on\""),
      std::string::npos);
  EXPECT_NE(whole.output.find("time budget: 0.02 min for the whole run"), std::string::npos)
      << whole.output;
  EXPECT_NE(whole.output.find("s of it kept for what follows the current stage (its evaluation "),
            std::string::npos)
      << whole.output;
  // The reserve names its parts: here the neighbour stage (stage 2). Within a reserve's length
  // of the contrastive stage's end it is timed again.
  EXPECT_NE(whole.output.find(" s, stage 2 "), std::string::npos) << whole.output;
  const size_t again = whole.output.find("time budget: timed again near the stage's end (");
  EXPECT_NE(again, std::string::npos) << whole.output;
  EXPECT_LT(again, whole.output.find("contrastive stage done")) << whole.output;
  // Both stages ran, the neighbour stage in the time kept for it, which it had estimated.
  EXPECT_NE(whole.output.find("contrastive stage done"), std::string::npos) << whole.output;
  EXPECT_NE(whole.output.find("stage 2 of 2"), std::string::npos) << whole.output;
  EXPECT_NE(whole.output.find("(estimated beforehand: "), std::string::npos) << whole.output;
  EXPECT_TRUE(fs::exists(path("whole/final.json")));
  const CliRun steps = run_cli(args + path("steps") + " --max-steps 2 --quiet");
  ASSERT_EQ(steps.status, 0) << steps.output;
  EXPECT_NE(read_text(path("steps/config.json")).find("\"stages\": \"\""), std::string::npos);
  EXPECT_NE(steps.output.find("budget reached: 2 steps"), std::string::npos) << steps.output;
}

// --init-weights: a torchvision ResNet state dict starts the backbone (the log says what was
// loaded, adapted and left fresh); a file that is not one is refused before the run's folder is
// made.
TEST_F(CliTrainTest, InitWeightsStartTheBackboneOrAreRefusedBeforeAnythingIsWritten) {
  ResNet torchvision(ResNetOptions(18).width(64).stem(Stem::kImagenet).attention(Attention::kNone));
  auto tensors = state_dict(*torchvision);
  tensors.emplace_back("fc.weight", torch::zeros({1000, 512}));
  tensors.emplace_back("fc.bias", torch::zeros({1000}));
  save_tensors(tensors, path("resnet18.pth"));
  const std::string args = "train --dataset mnist --data " + path("data") +
                           " --split train --arch resnet18 --clusters 2 --batch-size 32 "
                           "--views 2x12@0.5-1 --max-steps 1 --device cpu --out ";
  const CliRun ok =
      run_cli(args + path("ok") + " --width 64 --init-weights " + path("resnet18.pth"));
  ASSERT_EQ(ok.status, 0) << ok.output;
  EXPECT_NE(ok.output.find("backbone from " + path("resnet18.pth") + ": loaded "),
            std::string::npos)
      << ok.output;
  // 12 px images get the 3x3 stem, which torchvision has no weights for.
  EXPECT_NE(ok.output.find("left as initialised (conv1.weight (the file's stem is 7x7, the "
                           "network's 3x3)"),
            std::string::npos)
      << ok.output;
  EXPECT_NE(ok.output.find("skipped 2 (fc.weight, fc.bias)"), std::string::npos) << ok.output;
  // A file of another width, and one that is no ResNet: one line, no folder.
  const CliRun wide =
      run_cli(args + path("wide") + " --width 32 --init-weights " + path("resnet18.pth"));
  EXPECT_EQ(wide.status, 1);
  EXPECT_EQ(wide.output, "error: " + path("resnet18.pth") +
                             " is for width 64 (its layer1.0.conv1.weight is [64, 64, 3, 3]), the "
                             "network's is 32 (--width 64 takes it)\n");
  EXPECT_FALSE(fs::exists(path("wide")));
  save_tensors({{"weight", torch::zeros({2})}}, path("other.pth"));
  const CliRun other =
      run_cli(args + path("other") + " --width 64 --init-weights " + path("other.pth"));
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.output.find("is not a torchvision ResNet state dict"), std::string::npos);
  EXPECT_FALSE(fs::exists(path("other")));
}

TEST_F(CliTrainTest, AGrayscaleFolderTrainsWithTheChannelsAskedFor) {
  const torch::Tensor images = torch::randint(0, 256, {16, 1, 12, 12}).to(torch::kUInt8);
  for (int64_t i = 0; i < 16; ++i) {
    write_png(path("gray/img" + std::to_string(i) + ".png"), images[i]);
  }
  const std::string args = "train --dataset folder --data " + path("gray") +
                           " --image-size 12 --arch resnet18 --width 2 --clusters 2 "
                           "--batch-size 8 --views 2x12 --max-steps 1 --device cpu --quiet --out ";
  ASSERT_EQ(run_cli(args + path("one") + " --channels 1").status, 0);
  EXPECT_EQ(load_checkpoint(path("one/checkpoints/last.pt")).network.in_channels(), 1);
  ASSERT_EQ(run_cli(args + path("three")).status, 0);  // folders default to RGB
  EXPECT_EQ(load_checkpoint(path("three/checkpoints/last.pt")).network.in_channels(), 3);
  const CliRun mnist = run_cli(tiny_args(1) + " --channels 3 --out " + path("m"));
  EXPECT_EQ(mnist.status, 1);
  EXPECT_NE(mnist.output.find("--channels applies to image folders"), std::string::npos)
      << mnist.output;
}

TEST_F(CliTrainTest, CtrlCStopsAChildProcessAndResumeFinishesItBitIdentically) {
  ASSERT_EQ(run_cli(tiny_args(5) + " --out " + path("straight")).status, 0);
  // The same run in a child process, sent SIGINT once its first checkpoint is written.
  const std::string log = path("child.log");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string command = std::string("exec ") + DCACN_CLI_PATH + " " + tiny_args(5) +
                                " --out " + path("stopped") + " > " + log + " 2>&1";
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string first = path("stopped/checkpoints/last.pt");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(first) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(fs::exists(first)) << read_text(log);
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << read_text(log);
  EXPECT_EQ(WEXITSTATUS(status), 130) << read_text(log);
  EXPECT_NE(read_text(log).find("continue with: dcacn train --resume " + path("stopped")),
            std::string::npos)
      << read_text(log);
  const int64_t stopped_at = load_checkpoint(first).step;
  EXPECT_LT(stopped_at, 20);  // it did stop early: 5 epochs are 20 steps
  const CliRun resumed = run_cli("train --resume " + path("stopped") + " --quiet");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  const Checkpoint a = load_checkpoint(path("straight/checkpoints/last.pt"));
  const Checkpoint b = load_checkpoint(path("stopped/checkpoints/last.pt"));
  EXPECT_EQ(b.step, 20);
  ASSERT_EQ(a.model.size(), b.model.size());
  for (size_t i = 0; i < a.model.size(); ++i) {
    EXPECT_TRUE(a.model[i].second.equal(b.model[i].second)) << a.model[i].first;
  }
  EXPECT_EQ(rows_without_timings(path("straight/metrics.csv")),
            rows_without_timings(path("stopped/metrics.csv")));
}

// `dcacn train --nproc 2` of a long tiny run in the background, in RUN_DIR with its log.
struct TwoRanks {
  pid_t launcher = -1;
  pid_t rank1 = -1;  // from the launcher's "2 ranks on HOST:PORT (pids A, B)"
  std::string log, last;
};

class DistributedCliTest : public CliTrainTest {
 protected:
  void SetUp() override {
    if (!have_gloo()) GTEST_SKIP() << "this build has no Gloo";
    CliTrainTest::SetUp();
  }

  // Starts the ranks and waits for the run's first checkpoint.
  TwoRanks start(const std::string& name, int timeout_seconds) {
    TwoRanks r;
    std::string args = tiny_args(200);
    args.replace(args.find(" --quiet"), 8, "");
    r.log = path(name + ".log");
    r.last = path(name + "/checkpoints/last.pt");
    r.launcher = fork();
    if (r.launcher == 0) {
      const std::string command = std::string("exec ") + DCACN_CLI_PATH + " " + args +
                                  " --nproc 2 --dist-timeout " + std::to_string(timeout_seconds) +
                                  " --out " + path(name) + " > " + r.log + " 2>&1";
      execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!fs::exists(r.last) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const std::string text = read_text(r.log);
    const size_t at = text.find("(pids ");
    if (fs::exists(r.last) && at != std::string::npos) {
      r.rank1 = static_cast<pid_t>(std::stol(text.substr(text.find(", ", at) + 2)));
    }
    return r;
  }

  // Sends `sig` to rank 1; returns the seconds until the launcher exited and its status.
  std::pair<double, int> hit_rank1(const TwoRanks& r, int sig) {
    const auto at = std::chrono::steady_clock::now();
    EXPECT_EQ(kill(r.rank1, sig), 0);
    int status = 0;
    EXPECT_EQ(waitpid(r.launcher, &status, 0), r.launcher);
    return {std::chrono::duration<double>(std::chrono::steady_clock::now() - at).count(), status};
  }
};

// Rank 1 killed once the run has a checkpoint: the launcher names it and stops the other, well
// within the timeout; the last checkpoint loads.
TEST_F(DistributedCliTest, AKilledRankStopsTheOtherRanksAndTheLastCheckpointLoads) {
  const TwoRanks r = start("dist", 60);
  ASSERT_GT(r.rank1, 0) << read_text(r.log);
  const auto [seconds, status] = hit_rank1(r, SIGKILL);
  EXPECT_LT(seconds, 30) << read_text(r.log);
  ASSERT_TRUE(WIFEXITED(status)) << read_text(r.log);
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(
      read_text(r.log).find("rank 1 (pid " + std::to_string(r.rank1) + ") was killed by signal 9"),
      std::string::npos)
      << read_text(r.log);
  const Checkpoint ck = load_checkpoint(r.last);
  EXPECT_GE(ck.step, 4);
  EXPECT_LT(ck.step, 800);
}

// Rank 1 hangs (SIGSTOP): the other gives up after --dist-timeout with one line saying so, and
// the launcher stops the hung rank.
TEST_F(DistributedCliTest, AHungRankMakesTheOthersStopAfterTheTimeout) {
  // 8 s: long enough that a loaded machine's evaluation and checkpoint on rank 0 do not time
  // out rank 1 before the hang.
  const TwoRanks r = start("hung", 8);
  ASSERT_GT(r.rank1, 0) << read_text(r.log);
  const auto [seconds, status] = hit_rank1(r, SIGSTOP);
  EXPECT_LT(seconds, 45) << read_text(r.log);  // the timeout (8 s), then 10 s of grace
  ASSERT_TRUE(WIFEXITED(status)) << read_text(r.log);
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(read_text(r.log).find("rank 0 of 2:"), std::string::npos) << read_text(r.log);
  EXPECT_NE(read_text(r.log).find("within the timeout of 8 s"), std::string::npos)
      << read_text(r.log);
  EXPECT_NO_THROW(load_checkpoint(r.last));
}

}  // namespace
}  // namespace dcacn
