package upstream

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"unicode"
)

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	s.record(PathEmbeddings, body, r.Header)
	req, dim, rerr := parseEmbeddings(body, s.opts.EmbeddingDim)
	if rerr != nil {
		rerr.write(w)
		return
	}
	resp := embeddingResponse{Object: "list", Model: req.Model, Data: make([]embeddingData, 0, len(req.Input.Texts))}
	for i, text := range req.Input.Texts {
		vec := embedText(text, dim)
		enc, err := encodeVector(vec, req.EncodingFormat)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "server_error", "", err.Error(), "")
			return
		}
		resp.Data = append(resp.Data, embeddingData{Object: "embedding", Index: i, Embedding: enc})
		resp.Usage.PromptTokens += len(strings.Fields(text))
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens
	writeJSON(w, http.StatusOK, resp)
}

// parseEmbeddings decodes and validates an embeddings request and returns
// the vector size to produce.
func parseEmbeddings(body []byte, defaultDim int) (*embeddingRequest, int, *requestError) {
	var req embeddingRequest
	if err := json.Unmarshal(body, &req); err != nil {
		param := ""
		if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			param = typeErr.Field
		}
		var syntaxErr *json.SyntaxError
		if param == "" && !errors.As(err, &syntaxErr) {
			param = "input" // embeddingInput.UnmarshalJSON rejected the shape
		}
		return nil, 0, &requestError{status: http.StatusBadRequest, param: param,
			message: "Invalid embeddings request: " + err.Error(), code: "invalid_value"}
	}
	if req.Model == "" {
		return nil, 0, &requestError{status: http.StatusBadRequest, param: "model",
			message: "you must provide a model parameter", code: "missing_required_parameter"}
	}
	if !req.Input.set {
		return nil, 0, &requestError{status: http.StatusBadRequest, param: "input",
			message: "Missing required parameter: 'input'.", code: "missing_required_parameter"}
	}
	if len(req.Input.Texts) == 0 {
		return nil, 0, &requestError{status: http.StatusBadRequest, param: "input",
			message: "'$.input' is invalid: empty array.", code: "invalid_value"}
	}
	for i, t := range req.Input.Texts {
		if t == "" {
			return nil, 0, &requestError{status: http.StatusBadRequest, param: "input",
				message: fmt.Sprintf("'$.input[%d]' is invalid: empty string.", i), code: "invalid_value"}
		}
	}
	switch req.EncodingFormat {
	case "":
		req.EncodingFormat = "float"
	case "float", "base64":
	default:
		return nil, 0, &requestError{status: http.StatusBadRequest, param: "encoding_format",
			message: fmt.Sprintf("Invalid value for 'encoding_format': %q. Supported values are: 'float' and 'base64'.", req.EncodingFormat),
			code:    "invalid_value"}
	}
	dim := defaultDim
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > defaultDim {
			return nil, 0, &requestError{status: http.StatusBadRequest, param: "dimensions",
				message: fmt.Sprintf("Invalid value for 'dimensions': %d; it must be between 1 and %d.", *req.Dimensions, defaultDim),
				code:    "invalid_value"}
		}
		dim = *req.Dimensions
	}
	return &req, dim, nil
}

// embedWords splits text into lower-cased words of letters and digits, so
// case and punctuation do not change an embedding.
func embedWords(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// embedText returns a deterministic unit vector for text: the normalised sum
// of one pseudo-random Gaussian vector per word. Equal texts give equal
// vectors and texts sharing words are positively correlated. The first k
// components do not depend on dim, so a shorter vector is the truncated,
// renormalised longer one (as with OpenAI's dimensions parameter).
func embedText(text string, dim int) []float32 {
	words := embedWords(text)
	if len(words) == 0 {
		words = []string{text}
	}
	acc := make([]float64, dim)
	for _, word := range words {
		h := fnv.New128a()
		_, _ = h.Write([]byte(word)) // hash.Hash writes never fail
		sum := h.Sum(nil)
		rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:])))
		for i := range acc {
			acc[i] += rng.NormFloat64()
		}
	}
	var norm float64
	for _, v := range acc {
		norm += v * v
	}
	norm = math.Sqrt(norm)
	vec := make([]float32, dim)
	for i, v := range acc {
		vec[i] = float32(v / norm)
	}
	return vec
}

// encodeVector renders vec as a JSON float array or as a JSON string of
// base64 little-endian float32s.
func encodeVector(vec []float32, format string) (json.RawMessage, error) {
	if format != "base64" {
		b, err := json.Marshal(vec)
		if err != nil {
			return nil, fmt.Errorf("upstream: encode embedding: %w", err)
		}
		return b, nil
	}
	raw := make([]byte, 4*len(vec))
	for i, v := range vec {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	b, err := json.Marshal(base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		return nil, fmt.Errorf("upstream: encode embedding: %w", err)
	}
	return b, nil
}
