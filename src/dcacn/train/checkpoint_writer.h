#pragma once
// Which checkpoints a run keeps in RUN_DIR/checkpoints/: last.pt always, and epoch_NNNN.pt every
// `keep_every` epochs when asked for. There is no "best" checkpoint: choosing one by ACC would
// let the labels pick the model (runs of earlier versions may still hold a best.pt).

#include <string>

#include "dcacn/run/checkpoint.h"

namespace dcacn {

class CheckpointWriter {
 public:
  /// `keep_every`: > 0 keeps epoch_NNNN.pt every this many epochs; 0 none.
  CheckpointWriter(std::string run_dir, int64_t keep_every);

  /// RUN_DIR/checkpoints/<name>.pt
  std::string path(const std::string& name) const;

  /// last.pt; epoch_NNNN.pt when the checkpoint ends an epoch the retention keeps.
  void save(const Checkpoint& checkpoint) const;
  /// last.pt only (an interruption).
  void save_last(const Checkpoint& checkpoint) const;

 private:
  std::string run_dir_;
  int64_t keep_every_;
};

}  // namespace dcacn
