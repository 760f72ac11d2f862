#pragma once
// Starting the backbone from torchvision's ResNet weights (`dcacn train --init-weights FILE`):
// a state dict as torchvision writes it (torch.save(model.state_dict()), e.g.
// resnet34-b627a593.pth; with or without the classifier `fc.*`, names optionally prefixed with
// `module.` as nn.DataParallel saves them). The backbone's names are torchvision's, so the
// tensors go in by name:
// - a 1-channel network gets the RGB stem summed over its input channels (a grey image x gives
//   what the RGB network gives (x, x, x));
// - a 3x3 stem (dcacn's for images of 64 px or less) has no torchvision counterpart and stays
//   as initialised, as do CBAM's gates (torchvision has none);
// - a file of another depth or width is refused before anything is copied.

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "dcacn/model/resnet.h"

namespace dcacn {

/// What a load did, by name.
struct PretrainedReport {
  std::vector<std::string> loaded;   ///< copied as they are
  std::vector<std::string> adapted;  ///< copied after a stated change ("conv1.weight: ...")
  std::vector<std::string> fresh;    ///< the backbone's, not in the file: left as initialised
  std::vector<std::string> skipped;  ///< the file's, not used (the classifier)
  /// "loaded 102 tensors, adapted 1 (conv1.weight: RGB summed for 1 channel), 51 fresh (CBAM's
  /// gates), skipped 2 (fc.weight, fc.bias)".
  std::string summary() const;
};

/// InputError, naming `source`, when `tensors` are not a torchvision ResNet of `depth` and
/// `width` (and the option that would take them); before anything of a run is written.
void check_torchvision_resnet(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                              int64_t depth, int64_t width, const std::string& source);

/// Loads `tensors` (a torchvision ResNet state dict read from `source`, named in errors) into
/// `backbone`. InputError, with nothing copied, when the file is not a torchvision ResNet or is
/// of another depth or width than the backbone (naming both and the option that would match).
PretrainedReport load_torchvision_resnet(
    ResNetImpl& backbone, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
    const std::string& source);

}  // namespace dcacn
