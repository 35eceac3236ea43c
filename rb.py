import socket, time, hashlib
s=socket.create_connection(('127.0.0.1',7791))
def enc(*a):
    out=b'*%d\r\n'%len(a)
    for x in a:
        if isinstance(x,str): x=x.encode()
        out+=b'$%d\r\n%s\r\n'%(len(x),x)
    return out
def readall(n):
    # read n replies (simple parse)
    buf=b''; cnt=0
    f=s.makefile('rb')
    for i in range(n):
        l=f.readline()
        if l[:1]==b'$':
            ln=int(l[1:]); 
            if ln>=0: f.read(ln+2)
        elif l[:1]==b'*':
            k=int(l[1:])
            for j in range(k):
                l2=f.readline()
                if l2[:1]==b'$': f.read(int(l2[1:])+2)
    return
def cmd(*a):
    s.sendall(enc(*a)); f=s.makefile('rb'); l=f.readline()
    if l[:1]==b'$': return f.read(int(l[1:])+2)[:-2]
    return l
create=open('/work/main/crates/edge-session/src/scripts/create.lua').read()+open('/work/main/crates/edge-session/src/scripts/put.lua').read()
sha=cmd('SCRIPT','LOAD',create).decode()
cmd('DEL','tmpl'); cmd('HSET','tmpl','data','"session_data"')
payload=cmd('DUMP','tmpl')
print('payload',payload)
N=50000
def run(name, gen):
    cmd('CONFIG','RESETSTAT')
    B=500
    for base in range(0,N,B):
        s.sendall(b''.join(gen(i) for i in range(base,base+B)))
        readall(B)
    info=cmd('INFO','commandstats').decode()
    print(name, [l for l in info.split('\r\n') if 'calls' in l])
run('set', lambda i: enc('SET','s:%d'%i,'{"data":"session_data"}','EX','1209600'))
run('evalsha', lambda i: enc('EVALSHA',sha,'1','e:%d'%i,'1209600','data','"session_data"'))
run('restore', lambda i: enc('RESTORE','r:%d'%i,'1209600000',payload))
run('multi', lambda i: enc('MULTI')+enc('HSET','m:%d'%i,'data','"session_data"')+enc('EXPIRE','m:%d'%i,'1209600')+enc('EXEC'))
