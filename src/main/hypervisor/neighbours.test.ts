import { describe, expect, it } from 'vitest'
import { LibvirtHvClient } from './libvirt.js'
import { addressesForMacs, interfaceMacs, isLocalLibvirtUri, parseProcNetArp } from './neighbours.js'

// As the kernel prints it (columns padded with spaces), with an incomplete
// entry (flags 0x0, zero MAC), a permanent one (0x6) and a tab-separated line.
const ARP = `IP address       HW type     Flags       HW address            Mask     Device
198.51.100.82    0x1         0x2         52:54:00:D3:4D:23     *        vvtermnettry
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
198.51.100.90    0x1         0x0         00:00:00:00:00:00     *        vvother
10.1.2.3         0x1         0x6         52:54:00:aa:bb:cc     *        br0
10.9.9.9\t0x1\t0x2\t52:54:00:aa:bb:cc\t*\tbr0
not-an-ip        0x1         0x2         52:54:00:11:22:33     *        eth0
10.0.0.7         0x1         0x2         52:54:00:11:22        *        eth0
short line
`

describe('parseProcNetArp', () => {
  it('keeps complete IPv4 entries with a real MAC, lower-cased', () => {
    expect(parseProcNetArp(ARP)).toEqual([
      { ip: '198.51.100.82', mac: '52:54:00:d3:4d:23', device: 'vvtermnettry' },
      { ip: '192.0.2.1', mac: '02:fc:00:00:00:05', device: 'eth0' },
      { ip: '10.1.2.3', mac: '52:54:00:aa:bb:cc', device: 'br0' },
      { ip: '10.9.9.9', mac: '52:54:00:aa:bb:cc', device: 'br0' },
    ])
  })

  it('gives nothing for an empty table or just the header', () => {
    expect(parseProcNetArp('')).toEqual([])
    expect(parseProcNetArp(ARP.split('\n')[0] ?? '')).toEqual([])
  })
})

describe('interfaceMacs', () => {
  it("reads every <interface>'s MAC in order, not other devices' addresses", () => {
    const xml = `<domain><devices>
      <disk type='file'><address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/></disk>
      <interface type='ethernet'>
        <mac address='52:54:00:D3:4D:23'/><target dev='vv1'/><model type='virtio'/>
      </interface>
      <interface type="bridge"><mac address="52:54:00:aa:bb:cc"/><source bridge="br0"/></interface>
      <interface type='user'><model type='virtio'/></interface>
    </devices></domain>`
    expect(interfaceMacs(xml)).toEqual(['52:54:00:d3:4d:23', '52:54:00:aa:bb:cc'])
    expect(interfaceMacs('<domain><devices/></domain>')).toEqual([])
  })
})

describe('addressesForMacs', () => {
  const table = parseProcNetArp(ARP)
  it("returns the table's addresses for the domain's MACs, in interface order", () => {
    expect(addressesForMacs(table, ['52:54:00:AA:BB:CC', '52:54:00:d3:4d:23'])).toEqual([
      '10.1.2.3',
      '10.9.9.9',
      '198.51.100.82',
    ])
  })
  it('returns nothing for MACs the table does not hold (incomplete entries included)', () => {
    expect(addressesForMacs(table, ['52:54:00:00:00:01', '00:00:00:00:00:00'])).toEqual([])
  })
})

describe('isLocalLibvirtUri', () => {
  it('is true only for unix-socket URIs without a host', () => {
    for (const u of ['qemu:///system', 'qemu:///session', 'qemu+unix:///system', 'test:///default?socket=/tmp/x'])
      expect(isLocalLibvirtUri(u), u).toBe(true)
    for (const u of [
      'qemu+ssh://root@hv1/system',
      'qemu+ssh://root@127.0.0.1:2222/system',
      'qemu+libssh2://hv1/system',
      'qemu://hv1/system',
      'not a uri',
      'qemu+tls://hv1/system',
    ])
      expect(isLocalLibvirtUri(u), u).toBe(false)
  })

  it('decides LibvirtHvClient.local, so an SSH connection never reads the local neighbour table', () => {
    expect(LibvirtHvClient.create('qemu:///system').local).toBe(true)
    expect(LibvirtHvClient.create('qemu+ssh://root@127.0.0.1:22/system').local).toBe(false)
  })
})
