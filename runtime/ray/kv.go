package ray

import (
	"context"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// KVPut stores value under key in the cluster's key-value store (Ray's
// ray.experimental.internal_kv._internal_kv_put), in namespace ns; with
// overwrite false an existing value stays. It reports whether the key
// was new.
func KVPut(ctx context.Context, ns, key string, value []byte, overwrite bool) (bool, error) {
	w, err := worker()
	if err != nil {
		return false, err
	}
	r, err := w.GCS().KvPut(ctx, &rpcpb.KvRequest{Namespace: ns, Key: key, Value: value, Overwrite: overwrite})
	if err != nil {
		return false, err
	}
	return r.Added, nil
}

// KVGet reads key in namespace ns; found is false when it is not there.
func KVGet(ctx context.Context, ns, key string) (value []byte, found bool, err error) {
	w, err := worker()
	if err != nil {
		return nil, false, err
	}
	r, err := w.GCS().KvGet(ctx, &rpcpb.KvRequest{Namespace: ns, Key: key})
	if err != nil {
		return nil, false, err
	}
	return r.Value, r.Found, nil
}

// KVDelete removes key from namespace ns.
func KVDelete(ctx context.Context, ns, key string) error {
	w, err := worker()
	if err != nil {
		return err
	}
	_, err = w.GCS().KvDel(ctx, &rpcpb.KvRequest{Namespace: ns, Key: key})
	return err
}
