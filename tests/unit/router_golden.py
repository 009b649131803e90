#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Golden frames of tests/unit/test_router.c.

An independent model of dataplane/router.c's rewrite: it builds each input
frame, rewrites destination MAC/IP/port, decrements TTL and RECOMPUTES both
checksums from scratch (RFC 791, RFC 768), where router.c updates them
incrementally (RFC 1624). Prints the C arrays and the golden table; paste
them into test_router.c when a case is added. Backends B1..B5 must match the
fixture of test_router.c.
"""
import struct
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b))
    while s>>16: s=(s&0xffff)+(s>>16)
    return (~s)&0xffff
def ip4(a): return bytes(int(x) for x in a.split('.'))
NODE_MAC=bytes.fromhex('020000000001'); CLIENT_MAC=bytes.fromhex('020000000002')
CLIENT_IP='198.51.100.7'; NODE_IP='192.0.2.10'
def frame(dport,payload,sport=40000,ttl=64,udp_csum=True,frag=0,ihl=5,ethertype=0x0800,pad_to=0):
    opts=b'\x01'*4*(ihl-5)
    udp_len=8+len(payload)
    tot=20+len(opts)+udp_len
    iph=struct.pack('!BBHHHBBH4s4s',0x40|ihl,0,tot,0x1234,frag,ttl,17,0,ip4(CLIENT_IP),ip4(NODE_IP))+opts
    iph=iph[:10]+struct.pack('!H',csum(iph))+iph[12:]
    udp=struct.pack('!HHHH',sport,dport,udp_len,0)+payload
    if udp_csum:
        ph=ip4(CLIENT_IP)+ip4(NODE_IP)+struct.pack('!BBH',0,17,udp_len)
        c=csum(ph+udp) or 0xffff
        udp=udp[:6]+struct.pack('!H',c)+udp[8:]
    f=NODE_MAC+CLIENT_MAC+struct.pack('!H',ethertype)+iph+udp
    if len(f)<pad_to: f+=b'\0'*(pad_to-len(f))
    return f
def rewrite(f,mac,ip,port):
    f=bytearray(f)
    f[0:6]=mac
    ip_=f[14:34]; ip_[8]-=1; ip_[16:20]=ip4(ip); ip_[10:12]=b'\0\0'
    ip_[10:12]=struct.pack('!H',csum(bytes(ip_)))
    f[14:34]=ip_
    udp_len=struct.unpack('!H',f[38:40])[0]
    had=struct.unpack('!H',f[40:42])[0]
    f[36:38]=struct.pack('!H',port)
    if had:
        f[40:42]=b'\0\0'
        ph=bytes(f[26:30])+bytes(f[30:34])+struct.pack('!BBH',0,17,udp_len)
        c=csum(ph+bytes(f[34:34+udp_len])) or 0xffff
        f[40:42]=struct.pack('!H',c)
    return bytes(f)
def latch_msg(key,magic=0x4c54):
    hdr=struct.pack('!HBBHHHHIQQ',magic,1,1,0,3,len(key),0,0,0x1111,0x22)
    return hdr+b'\0'*24+key
B1=(bytes.fromhex('0200000000b1'),'192.0.2.101',9101)
B2=(bytes.fromhex('0200000000b2'),'192.0.2.102',9102)
B4=(bytes.fromhex('0200000000b4'),'192.0.2.104',9104)
B5=(bytes.fromhex('0200000000b5'),'192.0.2.105',7400)
arp=NODE_MAC+CLIENT_MAC+bytes.fromhex('0806')+bytes.fromhex('0001080006040001')+CLIENT_MAC+ip4(CLIENT_IP)+b'\0'*6+ip4(NODE_IP)+b'\0'*18
cases=[
 ('5tuple_routed', frame(9000,b'hello, 5-tuple'), 'FORWARD','routed',B1),
 ('payload_routed_csum0', frame(9002,b'HDR:key-0001:rest',udp_csum=False), 'FORWARD','routed',B2),
 ('payload_routed_padded', frame(9003,b'HDR:key-0002',pad_to=60), 'FORWARD','routed',B2),
 ('latch_routed', frame(7400,latch_msg(b'lock/a')), 'FORWARD','routed',B5),
 ('payload_short_drop', frame(9001,b'HDR:key'), 'DROP','key_out_of_payload',None),
 ('payload_short_default', frame(9010,b'tiny'), 'FORWARD','key_out_of_payload',B4),
 ('latch_bad_magic', frame(7400,latch_msg(b'lock/a',magic=0x4c55)), 'DROP','bad_latch_msg',None),
 ('latch_key_past_end', frame(7400,latch_msg(b'lock/a')[:-1]), 'DROP','bad_latch_msg',None),
 ('not_ipv4_arp', arp, 'PASS','not_ipv4',None),
 ('fragment_mf', frame(9000,b'frag',frag=0x2000), 'DROP','ip_fragment',None),
 ('fragment_offset', frame(9000,b'frag',frag=0x0010), 'DROP','ip_fragment',None),
 ('ip_options', frame(9000,b'opts',ihl=6), 'DROP','ip_options',None),
 ('unmatched_port', frame(5555,b'nobody'), 'PASS','unmatched',None),
 ('ttl_one', frame(9000,b'loop',ttl=1), 'DROP','ttl_expired',None),
 ('pool_down', frame(9020,b'down'), 'DROP','no_backend_up',None),
]
out=[]
for name,f,act,reason,be in cases:
    exp=rewrite(f,*be) if be else f
    def arr(b):
        s=''
        for i in range(0,len(b),12):
            s+='\t\t'+' '.join('0x%02x,'%x for x in b[i:i+12])+'\n'
        return s
    out.append('static const uint8_t in_%s[] = {\n%s};\n'%(name,arr(f).replace('\t\t','\t')))
    out.append('static const uint8_t out_%s[] = {\n%s};\n'%(name,arr(exp).replace('\t\t','\t')))
tbl='static const struct golden goldens[] = {\n'
for name,f,act,reason,be in cases:
    beidx={None:'NONE',B1:'B1',B2:'B2',B4:'B4',B5:'B5'}[be]
    tbl+='\tGOLDEN(%s, ROUTER_%s, ROUTER_R_%s, BE_%s),\n'%(name,act,reason,beidx)
tbl+='};\n'
print(''.join(out)+'\n'+tbl, end='')
