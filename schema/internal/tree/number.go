package tree

import "encoding/json"

// jsonNumber keeps numbers exact for the schema validator, which accepts
// json.Number the way encoding/json's UseNumber produces it.
type jsonNumber = json.Number
