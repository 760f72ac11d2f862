#include "dcacn/train/checkpoint_writer.h"

#include <cstdio>

namespace dcacn {

CheckpointWriter::CheckpointWriter(std::string run_dir, int64_t keep_every)
    : run_dir_(std::move(run_dir)), keep_every_(keep_every) {}

std::string CheckpointWriter::path(const std::string& name) const {
  return run_dir_ + "/checkpoints/" + name + ".pt";
}

void CheckpointWriter::save(const Checkpoint& ck) const {
  save_last(ck);
  if (keep_every_ > 0 && ck.batch_in_epoch == 0 && ck.epoch > 0 && ck.epoch % keep_every_ == 0) {
    char name[32];
    std::snprintf(name, sizeof(name), "epoch_%04lld", static_cast<long long>(ck.epoch));
    save_checkpoint(ck, path(name));
  }
}

void CheckpointWriter::save_last(const Checkpoint& ck) const { save_checkpoint(ck, path("last")); }

}  // namespace dcacn
