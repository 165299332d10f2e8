package main

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// engineMonitor stands in for the engine's resource monitor and records what reaches it.
type engineMonitor struct {
	pulumirpc.UnimplementedResourceMonitorServer
	runtime []string
	exists  string
}

func (m *engineMonitor) RegisterResource(
	ctx context.Context, req *pulumirpc.RegisterResourceRequest,
) (*pulumirpc.RegisterResourceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	m.runtime = md.Get("pulumi-runtime")
	return &pulumirpc.RegisterResourceResponse{Urn: "urn:pulumi:s::p::" + req.GetType() + "::" + req.GetName()}, nil
}

func (m *engineMonitor) SupportsFeature(
	_ context.Context, req *pulumirpc.SupportsFeatureRequest,
) (*pulumirpc.SupportsFeatureResponse, error) {
	return &pulumirpc.SupportsFeatureResponse{HasSupport: req.GetId() == "resourceHooks"}, nil
}

func (m *engineMonitor) ExistsResource(
	_ context.Context, req *pulumirpc.ExistsResourceRequest,
) (*pulumirpc.ExistsResourceResponse, error) {
	m.exists = req.GetId()
	return &pulumirpc.ExistsResourceResponse{Exists: true}, nil
}

func TestRun_MonitorProxyForwardsAndTagsNodeJS_AsRealHost(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	engine := &engineMonitor{}
	srv := grpc.NewServer()
	pulumirpc.RegisterResourceMonitorServer(srv, engine)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	addr, _, stop, err := startMonitorProxy(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mon := pulumirpc.NewResourceMonitorClient(conn)
	ctx := context.Background()

	resp, err := mon.RegisterResource(ctx, &pulumirpc.RegisterResourceRequest{Type: "command:local:Command", Name: "c"})
	if err != nil || resp.GetUrn() != "urn:pulumi:s::p::command:local:Command::c" {
		t.Fatalf("RegisterResource: %v %v", resp, err)
	}
	// The engine learns the request comes from Node.js, as from upstream's proxy.
	if len(engine.runtime) != 1 || engine.runtime[0] != "nodejs" {
		t.Fatalf("pulumi-runtime metadata %q", engine.runtime)
	}
	if f, err := mon.SupportsFeature(ctx, &pulumirpc.SupportsFeatureRequest{Id: "resourceHooks"}); err != nil || !f.GetHasSupport() {
		t.Fatalf("SupportsFeature: %v %v", f, err)
	}
	if _, err := mon.ExistsResource(ctx, &pulumirpc.ExistsResourceRequest{Id: "id-1"}); err != nil || engine.exists != "id-1" {
		t.Fatalf("ExistsResource: %v %q", err, engine.exists)
	}
}
