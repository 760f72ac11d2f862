#include "dcacn/train/metrics_log.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {
namespace {

// The step of a row (its second field); -1 when it has none.
int64_t row_step(const std::string& line) {
  const size_t a = line.find(',');
  const size_t b = a == std::string::npos ? a : line.find(',', a + 1);
  long long step = -1;
  if (b != std::string::npos) std::sscanf(line.substr(a + 1, b - a - 1).c_str(), "%lld", &step);
  return step;
}

// Field `index` (0-based) of a row; "" when it has fewer.
std::string row_field(const std::string& line, int64_t index) {
  std::istringstream in(line);
  std::string field;
  for (int64_t i = 0; i <= index; ++i) {
    if (!std::getline(in, field, ',')) return "";
  }
  return field;
}

int64_t count_fields(const std::string& line) {
  return static_cast<int64_t>(std::count(line.begin(), line.end(), ',')) + 1;
}

// Keeps the first `keep_rows` rows under the current header or, for a checkpoint of an earlier
// version (keep_rows < 0), the rows whose step is at most `last_step` and of the stages up to
// `last_stage`; the rows of an earlier version's file (a prefix of today's columns) get empty
// fields for the new columns.
std::string rows_up_to(const std::string& path, int64_t keep_rows, int64_t last_step,
                       int64_t last_stage, int64_t* kept_last_step, int64_t* kept_rows) {
  std::ifstream in(path);
  std::string header = MetricsLog::header();
  header.pop_back();  // its newline
  std::string line, kept = header + '\n';
  int64_t pad = 0;
  for (bool first = true; std::getline(in, line); first = false) {
    if (line.empty()) continue;
    if (first) {
      DCACN_CHECK(header.rfind(line, 0) == 0, path,
                  " does not start with the metrics header of dcacn (", line, ")");
      pad = count_fields(header) - count_fields(line);
      continue;
    }
    const int64_t step = row_step(line);
    if (step < 0) continue;  // torn
    if (keep_rows >= 0) {
      if (*kept_rows >= keep_rows) continue;  // written after the checkpoint
    } else {
      if (step > last_step) continue;  // after the checkpoint
      // The neighbour stage's row has the step of the training's end: a checkpoint from
      // before the stage does not keep it.
      if (std::atoll(row_field(line, 15).c_str()) > last_stage) continue;
    }
    kept += line + std::string(static_cast<size_t>(pad), ',') + '\n';
    *kept_last_step = std::max(*kept_last_step, step);
    ++*kept_rows;
  }
  return kept;
}

}  // namespace

void LossSums::add(const StepLosses& l) {
  total += l.total;
  instance += l.instance;
  cluster += l.cluster;
  entropy += l.entropy;
  ++steps;
}

StepLosses LossSums::means() const {
  const double n = static_cast<double>(std::max<int64_t>(1, steps));
  return {total / n, instance / n, cluster / n, entropy / n};
}

const char* MetricsLog::header() {
  return "epoch,step,wall_seconds,loss,instance_loss,cluster_loss,entropy_term,"
         "images_per_second,acc,nmi,ari,empty_clusters,largest_cluster_fraction,"
         "cluster_size_entropy,lr,stage,pseudo_labelled,pseudo_balance,pseudo_acc,eval_images\n";
}

MetricsLog::MetricsLog(std::string path, bool resume, int64_t keep_rows, int64_t resume_step,
                       int64_t resume_stage)
    : path_(std::move(path)) {
  if (!resume || !is_file(path_)) {
    write_file_atomic(path_, header());
  } else {
    write_file_atomic(path_,
                      rows_up_to(path_, keep_rows, resume_step, resume_stage, &last_step_, &rows_));
  }
}

void MetricsLog::append(double epoch_position, int64_t step, double wall_seconds,
                        const LossSums& losses, double images_per_second, const EvalResult& ev,
                        double lr, int64_t stage, const PseudoLabelStats* pseudo) {
  const StepLosses m = losses.means();
  std::ostringstream row;
  row << fixed(epoch_position, 3) << ',' << step << ',' << fixed(wall_seconds, 1) << ','
      << fixed(m.total, 5) << ',' << fixed(m.instance, 5) << ',' << fixed(m.cluster, 5) << ','
      << fixed(m.entropy, 5) << ',' << fixed(images_per_second, 1) << ','
      << (ev.has_labels ? fixed(ev.scores.acc) : "") << ','
      << (ev.has_labels ? fixed(ev.scores.nmi) : "") << ','
      << (ev.has_labels ? fixed(ev.scores.ari) : "") << ',' << ev.empty_clusters << ','
      << fixed(ev.largest_cluster_fraction) << ',' << fixed(ev.size_entropy) << ',' << lr << ','
      << stage << ',';
  if (pseudo != nullptr) {
    const double acc = pseudo->accuracy();
    row << fixed(pseudo->labelled_fraction()) << ',' << fixed(pseudo->balance()) << ','
        << (acc >= 0 ? fixed(acc) : "");
  } else {
    row << ",,";
  }
  row << ',' << (ev.predictions.defined() ? ev.predictions.size(0) : 0) << '\n';
  append_file_synced(path_, row.str());
  last_step_ = step;
  ++rows_;
}

double ThroughputMeter::segment_rate() const {
  const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  return images_ / std::max(1e-9, seconds);
}

double ThroughputMeter::close_segment() {
  const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  if (images_ == 0) return 0;  // no training in it (a neighbour stage): not training time
  closed_seconds_ += seconds;
  closed_images_ += images_;
  return images_ / std::max(1e-9, seconds);
}

void ThroughputMeter::restart() {
  start_ = Clock::now();
  images_ = 0;
}

double ThroughputMeter::session_rate() const {
  return closed_images_ / std::max(1e-9, closed_seconds_);
}

}  // namespace dcacn
