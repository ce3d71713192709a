package translate

import (
	"context"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"hotswap/proxy/command"
)

// Fast paths: the hot single-key writes in one DynamoDB call.
//
// The general path reads the item (GetItem), runs the handler and writes the whole
// item back on the version it read (PutItem): two calls. SET, HSET/HMSET and SADD in
// their common shapes do not need the old value to compute the new one, so they run
// as one UpdateItem whose condition admits exactly the states where the update means
// what the command means: no item, or an item of the command's type (for HSET and
// SADD: not expired), belonging to this key. The version is bumped with ADD, and
// ReturnValues ALL_OLD tells how many fields or members are new. Any other
// state (another type, an expired key, a tombstone, a binary set, an item past
// DynamoDB's limits) fails the condition or validation, and the command runs on the
// general path, which handles every case: so the fast path never changes a reply.

// fastMaxArgs bounds the fields/members a fast update sets: update expressions are
// limited to 4 KB, and a big update goes as one whole-item PutItem instead.
const fastMaxArgs = 64

// fastPath runs c in one UpdateItem when it can. ok is false when the command must
// take the general path (nothing was written).
func (e *Engine) fastPath(ctx context.Context, r *Reply, c *Cmd) (ok bool, err error) {
	if len(c.Keys) != 1 || len(c.Routes) != 1 || c.Keys[0] != 1 {
		return false, nil
	}
	rt := &c.Routes[0]
	fam := rt.Family
	if fam == nil {
		return false, nil
	}
	var in *dynamodb.UpdateItemInput
	var reply func(out *dynamodb.UpdateItemOutput)
	switch c.Info.Name {
	case "set":
		in, reply = e.fastSet(c, rt, r)
	case "hset", "hmset":
		in, reply = e.fastHSet(c, rt, r)
	case "sadd":
		in, reply = e.fastSAdd(c, rt, r)
	}
	if in == nil {
		return false, nil
	}
	out, err := e.db.UpdateItem(ctx, in)
	if err != nil {
		if isConditionFailed(err) || isValidation(err) {
			return false, nil
		}
		return false, err
	}
	reply(out)
	return true, nil
}

// fastInput starts an UpdateItem on the route's item with the bookkeeping every fast
// update does: type, key, version.
func (e *Engine) fastInput(rt *Route, key []byte, kind Kind) (*dynamodb.UpdateItemInput, map[string]string, map[string]types.AttributeValue) {
	names := map[string]string{"#pk": AttrPK, "#type": AttrType, "#key": AttrKey, "#ver": AttrVersion}
	keyAttr := types.AttributeValue(&types.AttributeValueMemberS{Value: string(key)})
	if !utf8.Valid(key) {
		keyAttr = &types.AttributeValueMemberB{Value: key}
	}
	vals := map[string]types.AttributeValue{
		":type": &types.AttributeValueMemberS{Value: kind.String()},
		":key":  keyAttr,
		":one":  numAttr(1),
	}
	return &dynamodb.UpdateItemInput{TableName: e.table, Key: itemKey(rt)}, names, vals
}

// fastSet: SET key value [EX seconds | PX milliseconds]. Any item of this key that is
// a string or a tombstone is overwritten whole by the update (they hold no other
// attributes), expired or not, as SET does.
func (e *Engine) fastSet(c *Cmd, rt *Route, r *Reply) (*dynamodb.UpdateItemInput, func(*dynamodb.UpdateItemOutput)) {
	if rt.Family.Kind != KindNone && rt.Family.Kind != KindString {
		return nil, nil
	}
	var expireAt int64
	switch len(c.Args) {
	case 3:
	case 5:
		n, ok := command.ParseInt(c.Args[4])
		if !ok || n <= 0 || n > 1e12 {
			return nil, nil // errors and edge cases: the general path has Redis' rules
		}
		switch {
		case len(c.Args[3]) == 2 && (c.Args[3][0]|0x20) == 'e' && (c.Args[3][1]|0x20) == 'x':
			n *= 1000
		case len(c.Args[3]) == 2 && (c.Args[3][0]|0x20) == 'p' && (c.Args[3][1]|0x20) == 'x':
		default:
			return nil, nil
		}
		expireAt = e.now().UnixMilli() + n
	default:
		return nil, nil
	}
	in, names, vals := e.fastInput(rt, c.Args[1], KindString)
	names["#v"] = AttrValue
	names["#exp"] = AttrExpire
	names["#ttl"] = AttrTTL
	vals[":v"] = bytesAttr(c.Args[2], rt.Family.Numeric[""])
	vals[":tomb"] = &types.AttributeValueMemberS{Value: typeTombstone}
	expr := "SET #type = :type, #key = :key, #v = :v"
	if expireAt > 0 {
		vals[":exp"] = numAttr(expireAt)
		vals[":ttl"] = numAttr((expireAt + 999) / 1000)
		expr += ", #exp = :exp, #ttl = :ttl ADD #ver :one"
	} else {
		expr += " ADD #ver :one REMOVE #exp, #ttl"
	}
	in.UpdateExpression = aws.String(expr)
	in.ConditionExpression = aws.String("attribute_not_exists(#pk) OR ((#type = :type OR #type = :tomb) AND #key = :key)")
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = names, vals
	return in, func(*dynamodb.UpdateItemOutput) { r.OK() }
}

// liveCondition admits no item, or a live (unexpired) item of the type and key.
const liveCondition = "attribute_not_exists(#pk) OR (#type = :type AND #key = :key AND (attribute_not_exists(#exp) OR #exp >= :now))"

// fastHSet: HSET/HMSET key field value [field value ...] with distinct fields.
func (e *Engine) fastHSet(c *Cmd, rt *Route, r *Reply) (*dynamodb.UpdateItemInput, func(*dynamodb.UpdateItemOutput)) {
	if rt.Family.Kind != KindNone && rt.Family.Kind != KindHash {
		return nil, nil
	}
	n := len(c.Args) - 2
	if n < 2 || n%2 != 0 || n/2 > fastMaxArgs {
		return nil, nil
	}
	in, names, vals := e.fastInput(rt, c.Args[1], KindHash)
	names["#exp"] = AttrExpire
	vals[":now"] = numAttr(e.now().UnixMilli())
	expr := make([]byte, 0, 64+n*12)
	expr = append(expr, "SET #type = :type, #key = :key"...)
	fields := make(map[string]bool, n/2)
	attrs := make([]string, 0, n/2)
	for i := 2; i < len(c.Args); i += 2 {
		f := string(c.Args[i])
		if fields[f] {
			return nil, nil // a field twice: the paths would overlap
		}
		fields[f] = true
		name := fieldAttr(f)
		if len(name) > maxAttrName {
			return nil, nil
		}
		attrs = append(attrs, name)
		j := strconv.Itoa(i / 2)
		names["#f"+j] = name
		vals[":v"+j] = bytesAttr(c.Args[i+1], rt.Family.Numeric[f])
		expr = append(expr, ", #f"+j+" = :v"+j...)
	}
	expr = append(expr, " ADD #ver :one"...)
	in.UpdateExpression = aws.String(string(expr))
	in.ConditionExpression = aws.String(liveCondition)
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = names, vals
	// ALL_OLD: whether UPDATED_OLD lists a field SET to the value it already had is
	// not pinned down (moto leaves it out, and HSET would then count it as new); the
	// whole old item answers it either way, at the cost of a bigger response for big
	// hashes (no read capacity is consumed).
	in.ReturnValues = types.ReturnValueAllOld
	return in, func(out *dynamodb.UpdateItemOutput) {
		if c.Info.Name == "hmset" {
			r.OK()
			return
		}
		added := 0
		for _, a := range attrs {
			if _, had := out.Attributes[a]; !had {
				added++
			}
		}
		r.Int(int64(added))
	}
}

// fastSAdd: SADD key member [member ...] with non-empty UTF-8 members, added to a
// string set (a set stored as binary fails validation and takes the general path).
func (e *Engine) fastSAdd(c *Cmd, rt *Route, r *Reply) (*dynamodb.UpdateItemInput, func(*dynamodb.UpdateItemOutput)) {
	if rt.Family.Kind != KindNone && rt.Family.Kind != KindSet {
		return nil, nil
	}
	if len(c.Args)-2 > fastMaxArgs {
		return nil, nil
	}
	members := make([]string, 0, len(c.Args)-2)
	seen := make(map[string]bool, len(c.Args)-2)
	for _, m := range c.Args[2:] {
		if len(m) == 0 || !utf8.Valid(m) {
			return nil, nil
		}
		if !seen[string(m)] {
			seen[string(m)] = true
			members = append(members, string(m))
		}
	}
	in, names, vals := e.fastInput(rt, c.Args[1], KindSet)
	names["#exp"] = AttrExpire
	names["#m"] = AttrMembers
	vals[":now"] = numAttr(e.now().UnixMilli())
	vals[":m"] = &types.AttributeValueMemberSS{Value: members}
	in.UpdateExpression = aws.String("SET #type = :type, #key = :key ADD #m :m, #ver :one")
	in.ConditionExpression = aws.String(liveCondition)
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = names, vals
	// ALL_OLD, not UPDATED_OLD: an ADD that adds nothing new leaves the set as it was,
	// and moto then leaves it out of UPDATED_OLD (SADD of a member already there
	// answered 1). The old item of a set family is its members and bookkeeping, so
	// this costs nothing more.
	in.ReturnValues = types.ReturnValueAllOld
	return in, func(out *dynamodb.UpdateItemOutput) {
		old := map[string]bool{}
		if ss, ok := out.Attributes[AttrMembers].(*types.AttributeValueMemberSS); ok {
			for _, m := range ss.Value {
				old[m] = true
			}
		}
		added := 0
		for _, m := range members {
			if !old[m] {
				added++
			}
		}
		r.Int(int64(added))
	}
}

// isValidation: DynamoDB refused the request itself (an operand of the wrong type, an
// item past 400 KB, ...); the general path finds out what Redis would answer.
func isValidation(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationException"
}
