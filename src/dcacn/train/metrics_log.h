#pragma once
// RUN_DIR/metrics.csv: one row per evaluation, with the mean training losses since the
// previous one. The running sums are part of the training state (a checkpoint keeps them), so
// that a row spanning an interruption and a resume holds the same means as without it.
// The self-labelling stage's rows have stage 2 and its pseudo-label statistics since the
// previous row (share labelled, fewest/most per cluster, ACC when the data has labels); its
// cluster_loss column holds the pseudo-label cross-entropy.

#include <chrono>
#include <cstdint>
#include <string>

#include "dcacn/train/evaluation.h"
#include "dcacn/train/self_labelling.h"
#include "dcacn/util/progress.h"

namespace dcacn {

/// The loss values of one optimisation step.
struct StepLosses {
  double total = 0, instance = 0, cluster = 0, entropy = 0;
};

/// Sums of the step losses since the last metrics row.
struct LossSums {
  double total = 0, instance = 0, cluster = 0, entropy = 0;
  int64_t steps = 0;

  void add(const StepLosses& losses);
  /// The means; zeros before the first step.
  StepLosses means() const;
};

class MetricsLog {
 public:
  /// Starts the file with its header unless it exists and the run is resumed. On resume, the
  /// rows written after the checkpoint the run resumes from are dropped: all but the first
  /// `keep_rows` or, for checkpoints of versions 1-3 (keep_rows < 0), the rows past
  /// `resume_step` and of later stages than `resume_stage`. A file from an earlier version with
  /// fewer columns gets the new ones (empty).
  MetricsLog(std::string path, bool resume, int64_t keep_rows, int64_t resume_step = 0,
             int64_t resume_stage = 3);

  static const char* header();

  /// Appends one row (and flushes it to disk). `pseudo`: the self-labelling stage's counts.
  void append(double epoch_position, int64_t step, double wall_seconds, const LossSums& losses,
              double images_per_second, const EvalResult& eval, double lr, int64_t stage = 1,
              const PseudoLabelStats* pseudo = nullptr);

  const std::string& path() const { return path_; }
  /// The step of the last row; -1 when there is none.
  int64_t last_step() const { return last_step_; }
  /// Rows in the file.
  int64_t rows() const { return rows_; }

 private:
  std::string path_;
  int64_t last_step_ = -1;
  int64_t rows_ = 0;
};

/// Training throughput between evaluations (evaluation time excluded), and over the session.
class ThroughputMeter {
 public:
  ThroughputMeter() { restart(); }
  void add_images(int64_t n) { images_ += n; }
  /// Images/s of the segment since the last restart.
  double segment_rate() const;
  /// Ends the segment: adds it to the session's totals and returns its rate. A segment without
  /// images (a whole stage, such as the neighbour stage) is not training time: it returns 0 and
  /// adds nothing.
  double close_segment();
  /// Starts a new segment now.
  void restart();
  /// Images/s over every closed segment.
  double session_rate() const;

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
  int64_t images_ = 0;
  double closed_seconds_ = 0;
  int64_t closed_images_ = 0;
};

}  // namespace dcacn
