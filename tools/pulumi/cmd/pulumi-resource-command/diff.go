package main

import (
	"context"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Output-only properties of the resources: not inputs, never diffed.
var outputOnly = map[resource.PropertyKey]bool{"stdout": true, "stderr": true, "assets": true, "archive": true}

// schemaReplaceOnChanges are the input properties the provider's schema marks replaceOnChanges
// (triggers, on all three resources); pulumi-go-provider forces a replace only for a detailed-diff
// key equal to one of them, so a change inside triggers ("triggers[0]") is an update here and
// becomes a replace in the engine through the SDK's replaceOnChanges: ["triggers[*]"] option.
var schemaReplaceOnChanges = map[string]bool{"triggers": true}

// diffInputs is pulumi-go-provider v1.3.0's default diff (infer's diff without CustomDiff).
func diffInputs(oldInputs, state, news resource.PropertyMap, ignored []string) *pulumirpc.DiffResponse {
	news = ignoreChanges(news, state, ignored)
	for k := range news {
		if k == "version" || strings.HasPrefix(string(k), "__") {
			delete(news, k)
		}
	}
	objDiff := oldInputs.Diff(news)
	detailed := plugin.NewDetailedDiffFromObjectDiff(objDiff, false)

	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
		HasDetailedDiff: true,
	}
	if objDiff != nil && objDiff.AnyChanges() {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	diffs, replaces := map[string]bool{}, map[string]bool{}
	for k, v := range detailed {
		if schemaReplaceOnChanges[k] {
			v.Kind = v.Kind.AsReplace()
		}
		// Diffs and Replaces name the top-level property of each detailed key.
		head := k
		if path, err := resource.ParsePropertyPath(k); err == nil && len(path) > 0 {
			if s, ok := path[0].(string); ok {
				head = s
			}
		}
		diffs[head] = true
		if v.Kind.IsReplace() {
			replaces[head] = true
		}
		resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{
			Kind: pulumirpc.PropertyDiff_Kind(v.Kind), InputDiff: v.InputDiff,
		}
	}
	resp.Diffs = sortedKeys(diffs)
	resp.Replaces = sortedKeys(replaces)
	return resp
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// inputsOf drops the output-only keys from a state, for engines that send no old inputs.
func inputsOf(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		if !outputOnly[k] {
			out[k] = v
		}
	}
	return out
}

func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if _, err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	state, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	oldInputs, err := unmarshal(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	if req.GetOldInputs() == nil {
		oldInputs = inputsOf(state)
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	return diffInputs(oldInputs, state, news, req.GetIgnoreChanges()), nil
}
