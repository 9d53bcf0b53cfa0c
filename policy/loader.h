// Reads Egress resources from YAML files. Every error is a PolicyError whose message
// points the operator at the file, the document, the line and the field to fix.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/egress.h"

namespace skouter::policy {

// Parses every document of a (multi-document) YAML text. Empty documents are skipped
// but still counted, so Egress::document matches what the operator sees between the
// `---` separators. `source_name` is only used in Egress::source and in error
// messages. Throws PolicyError on the first invalid document, and when two documents
// define the same namespace/name.
std::vector<Egress> parsePolicyDocuments(std::string_view yaml_text,
                                         const std::string& source_name);

// Loads one policy file, or every *.yaml and *.yml file directly inside a directory
// in name order (dotfiles are skipped, like a shell glob would). A missing path, an
// unreadable file or a directory without policy files is a PolicyError, as is an
// Egress name defined twice across the files.
std::vector<Egress> loadPolicyPath(const std::string& path);

}  // namespace skouter::policy
